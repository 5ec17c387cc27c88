import Testing

@testable import SwiftPSTransport

/// When `swiftps` leaves glibc's malloc alone: the user said so, or set malloc's own knobs.
@Suite struct FreedMemoryTests {
    @Test func appliesUnlessTheUserSaidOtherwise() {
        #expect(FreedMemory.reasonToSkip(environment: [:]) == nil)
        #expect(FreedMemory.reasonToSkip(environment: ["SWIFTPS_MALLOC_TUNING": "1"]) == nil)
        #expect(FreedMemory.reasonToSkip(environment: ["GLIBC_TUNABLES": "glibc.pthread.rseq=0"]) == nil)
        #expect(FreedMemory.reasonToSkip(environment: ["SWIFTPS_MALLOC_TUNING": "Off"]) == "SWIFTPS_MALLOC_TUNING=off")
        #expect(
            FreedMemory.reasonToSkip(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"])
                == "GLIBC_TUNABLES sets malloc's own tunables")
        #expect(
            FreedMemory.reasonToSkip(environment: ["MALLOC_TRIM_THRESHOLD_": "0"]) == "MALLOC_TRIM_THRESHOLD_ is set")
        #expect(!FreedMemory.keepFreedMemory(environment: ["SWIFTPS_MALLOC_TUNING": "0"]))
    }
}
