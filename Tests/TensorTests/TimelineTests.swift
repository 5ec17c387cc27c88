import Foundation
import Testing

@testable import SwiftPSTensor

/// The timeline's trace: Chrome's Trace Event Format, checked by parsing it back.
@Suite struct TimelineTests {
    static func events(_ timeline: Timeline) throws -> (
        spans: [[String: Any]], names: [Int: String], root: [String: Any]
    ) {
        let data = Data(timeline.json().utf8)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        var names: [Int: String] = [:]
        for event in events where event["ph"] as? String == "M" && event["name"] as? String == "thread_name" {
            names[event["tid"] as? Int ?? -1] = (event["args"] as? [String: Any])?["name"] as? String
        }
        return (events.filter { $0["ph"] as? String == "X" }, names, root)
    }

    /// Spans become complete events in microseconds, on their tracks, with their details; names
    /// that JSON must escape survive; a track is named once, by the first span that names it.
    @Test func spansAreCompleteEventsInMicroseconds() throws {
        let timeline = Timeline(processName: "worker \"1\"", processID: 1)
        timeline.span("forward", category: "compute", track: Timeline.computeTrack, start: 2.0, end: 2.0005)
        timeline.span(
            "pushPull w\n", category: "kvstore", track: Timeline.keyTrackBase + 3, start: 2.000_25, end: 2.001,
            detail: "server 0, 4 values", trackName: "key w")
        timeline.span(
            "pull w", category: "kvstore", track: Timeline.keyTrackBase + 3, start: 3, end: 2.5, trackName: "other")
        let (spans, names, root) = try Self.events(timeline)
        #expect(spans.count == 3 && timeline.count == 3)
        #expect(spans[0]["name"] as? String == "forward" && spans[0]["cat"] as? String == "compute")
        #expect(spans[0]["ts"] as? Int == 2_000_000 && spans[0]["dur"] as? Int == 500)
        #expect(spans[0]["pid"] as? Int == 1 && spans[0]["tid"] as? Int == 1)
        #expect(spans[1]["name"] as? String == "pushPull w\n" && spans[1]["tid"] as? Int == 103)
        #expect(spans[1]["ts"] as? Int == 2_000_250 && spans[1]["dur"] as? Int == 750)
        #expect((spans[1]["args"] as? [String: Any])?["detail"] as? String == "server 0, 4 values")
        #expect(spans[2]["dur"] as? Int == 0, "an end before the start is a zero-length span")
        #expect(names == [1: "compute", 103: "key w"])
        let process = (root["traceEvents"] as? [[String: Any]])?.first { $0["name"] as? String == "process_name" }
        #expect((process?["args"] as? [String: Any])?["name"] as? String == "worker \"1\"")
        #expect(root["otherData"] == nil)
    }

    /// Past the limit events are counted, not kept, and the trace says so; `measure` records what
    /// it ran.
    @Test func eventsPastTheLimitAreDroppedAndSaid() throws {
        let timeline = Timeline(processName: "w", limit: 2)
        let value = timeline.measure("first", category: "compute", track: 1) { 42 }
        #expect(value == 42)
        for i in 0..<5 { timeline.span("s\(i)", category: "compute", track: 1, start: 1, end: 2) }
        let (spans, _, root) = try Self.events(timeline)
        #expect(spans.map { $0["name"] as? String } == ["first", "s0"])
        #expect((root["otherData"] as? [String: Any])?["note"] as? String == "4 events after the first 2 were dropped")
    }

    /// The file is written whole (atomically), its directory made; recording from several threads
    /// loses nothing.
    @Test func writesTheWholeTraceAndRecordsFromManyThreads() throws {
        let timeline = Timeline(processName: "w")
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<500 {
                timeline.span("t\(thread)", category: "compute", track: thread, start: Double(i), end: Double(i) + 1)
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("timeline-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try timeline.write(to: directory + "/sub/trace.json")
        let written = try String(contentsOfFile: directory + "/sub/trace.json", encoding: .utf8)
        #expect(written == timeline.json())
        #expect(try Self.events(timeline).spans.count == 4000)
    }
}
