import Foundation

/// A trace of what one process did and when, written in Chrome's Trace Event Format (JSON) for
/// `chrome://tracing` or https://ui.perfetto.dev: SwiftPS's answer to Horovod's `HOROVOD_TIMELINE`,
/// BytePS's `BYTEPS_TRACE_ON` and MXNet's profiler.
///
/// Each event is a span on a named track: a Module puts `forward`, `backward` and `update` on the
/// `compute` track (with the waits for weights still in flight nested in `forward`), and a
/// distributed kvstore puts each request, from its send to its answer, on the track of its key. Times
/// are microseconds of the host's monotonic clock, so the traces of processes on one host line up.
///
/// Recording is thread-safe and cheap (a lock and an append); the JSON is made only by `write(to:)`,
/// which rewrites the whole trace atomically, so a run can write it at every epoch end and a crash
/// leaves the last one. Past `limit` events, later ones are counted and dropped (a note in the trace
/// says how many).
public final class Timeline: @unchecked Sendable {
    /// The track of the Module's forward, backward and update.
    public static let computeTrack = 1
    /// The tracks of kvstore keys: key `k` (in init order) is on `keyTrackBase + k`.
    public static let keyTrackBase = 100

    struct Event {
        var name: String
        var category: StaticString
        var track: Int
        var start: Double
        var end: Double
        var detail: String?
    }

    /// The process's name in the trace (`worker 0`).
    public let processName: String
    /// The process id in the trace (the rank, so that the traces of workers can be merged).
    public let processID: Int
    /// Events kept at most.
    public let limit: Int
    private let lock = NSLock()
    private var events: [Event] = []
    private var trackNames: [Int: String] = [:]
    private var dropped = 0

    /// An empty timeline for the process named `processName` (id `processID` in the trace), keeping
    /// at most `limit` events: the default, 500,000, is about 200 epochs of an mlp dist_sync worker
    /// (2,500 events an epoch in a 3-epoch run's trace, about 120 bytes of trace text each).
    public init(processName: String, processID: Int = 0, limit: Int = 500_000) {
        self.processName = processName
        self.processID = processID
        self.limit = max(limit, 0)
        trackNames[Self.computeTrack] = "compute"
    }

    /// Names `track` (shown beside its spans).
    public func nameTrack(_ track: Int, _ name: String) {
        lock.lock()
        trackNames[track] = name
        lock.unlock()
    }

    /// Records a span from `start` to `end` (seconds of `MonotonicClock`), with an optional `detail`
    /// shown with it; `trackName` names the track if it has no name yet.
    public func span(
        _ name: String, category: StaticString, track: Int, start: Double, end: Double, detail: String? = nil,
        trackName: @autoclosure () -> String? = nil
    ) {
        lock.lock()
        defer { lock.unlock() }
        if trackNames[track] == nil, let trackName = trackName() { trackNames[track] = trackName }
        guard events.count < limit else {
            dropped += 1
            return
        }
        events.append(Event(name: name, category: category, track: track, start: start, end: end, detail: detail))
    }

    /// Runs `body` and records it as a span.
    public func measure<T>(_ name: String, category: StaticString, track: Int, _ body: () throws -> T) rethrows -> T {
        let start = MonotonicClock.now()
        defer { span(name, category: category, track: track, start: start, end: MonotonicClock.now()) }
        return try body()
    }

    /// The number of events recorded (not counting dropped ones).
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return events.count
    }

    /// The trace so far as Trace Event Format JSON: an object whose `traceEvents` holds the process
    /// and track names (`ph` "M") and one complete event (`ph` "X", `ts` and `dur` in microseconds)
    /// per span.
    public func json() -> String {
        lock.lock()
        let events = self.events
        let names = trackNames
        let dropped = self.dropped
        lock.unlock()
        var lines: [String] = []
        lines.reserveCapacity(events.count + names.count + 1)
        let pid = processID
        lines.append(
            #"{"name":"process_name","ph":"M","pid":\#(pid),"tid":0,"args":{"name":\#(jsonString(processName))}}"#)
        for (track, name) in names.sorted(by: { $0.key < $1.key }) {
            lines.append(
                #"{"name":"thread_name","ph":"M","pid":\#(pid),"tid":\#(track),"args":{"name":\#(jsonString(name))}}"#)
            lines.append(
                #"{"name":"thread_sort_index","ph":"M","pid":\#(pid),"tid":\#(track),"args":{"sort_index":\#(track)}}"#)
        }
        for event in events {
            let start = Self.microseconds(event.start)
            let duration = max(0, Self.microseconds(event.end) - start)
            var line =
                #"{"name":\#(jsonString(event.name)),"cat":"\#(event.category)","ph":"X","pid":\#(pid),"tid":\#(event.track),"ts":\#(start),"dur":\#(duration)"#
            if let detail = event.detail { line += #","args":{"detail":\#(jsonString(detail))}"# }
            lines.append(line + "}")
        }
        var text = "{\"traceEvents\":[\n" + lines.joined(separator: ",\n") + "\n]"
        if dropped > 0 {
            text += #","otherData":{"note":"\#(dropped) events after the first \#(limit) were dropped"}"#
        }
        return text + "}\n"
    }

    /// Writes `json()` to `path` atomically (temporary file, fsync, rename), creating its directory.
    public func write(to path: String) throws(AtomicFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try AtomicFile.createDirectories(directory) }
        try AtomicFile.write(Array(json().utf8), to: path)
    }

    /// `path` with `.node` before its extension (`trace.json` → `trace.server0.json`; `trace` →
    /// `trace.server0`), so that the processes of a job sharing a directory write files of their own.
    public static func path(_ path: String, node: String) -> String {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return path + ".\(node)" }
        let stem = path.dropLast(name.distance(from: dot, to: name.endIndex))
        return "\(stem).\(node)\(name[dot...])"
    }

    /// Whole microseconds of `seconds`.
    static func microseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1e6).rounded()) }
}
