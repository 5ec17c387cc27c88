import Testing

@testable import SwiftPSTransport

@Suite struct PayloadTests {
    @Test func typedReadersCheckTypeAndSize() throws {
        let payload = Payload(copying: [Float(1), 2, 3])
        #expect(payload.byteCount == 12)
        #expect(payload.dataType == .float32)
        #expect(try payload.toArray(of: Float.self) == [1, 2, 3])
        let sum = try payload.withUnsafeBufferPointer(of: Float.self) { $0.reduce(0, +) }
        #expect(sum == 6)
        #expect(throws: PayloadError.typeMismatch(requested: .uint64, actual: .float32)) {
            try payload.toArray(of: UInt64.self)
        }
        var out = [Float](repeating: 0, count: 2)
        #expect(throws: PayloadError.countMismatch(expected: 2, found: 3)) {
            try out.withUnsafeMutableBufferPointer { try payload.copyElements(into: $0) }
        }
    }

    @Test func misalignedBuffersAreCopiedBeforeTypedAccess() throws {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 4 + 1, alignment: 8)
        let released = Flag()
        let values: [UInt64] = [1, 2, 3, 4]
        let view = UnsafeMutableRawBufferPointer(rebasing: raw[1...])
        values.withUnsafeBytes { view.copyMemory(from: $0) }
        var payload: Payload? = Payload(bytesNoCopy: view, dataType: .uint64) { view in
            (view.baseAddress! - 1).deallocate()
            released.set()
        }
        #expect(try payload!.withUnsafeBufferPointer(of: UInt64.self) { Array($0) } == values)
        #expect(try payload!.toArray(of: UInt64.self) == values)
        payload = nil
        #expect(released.wait(timeout: 1))
    }

    @Test func partialElementsAreRejected() {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 6, alignment: 8)
        let payload = Payload(bytesNoCopy: raw, dataType: .float32) { $0.deallocate() }
        #expect(throws: PayloadError.partialElement(byteCount: 6, elementType: .float32)) {
            try payload.toArray(of: Float.self)
        }
    }

    @Test func onReleaseRunsWhenTheLastReferenceGoes() {
        let released = Flag()
        var payload: Payload? = Payload(
            count: 4, of: Int32.self, onRelease: { released.set() },
            initializer: { buffer in
                for i in buffer.indices { buffer[i] = Int32(i) }
            })
        #expect((try? payload?.toArray(of: Int32.self)) == [0, 1, 2, 3])
        payload = nil
        #expect(released.wait(timeout: 1))
    }
}
