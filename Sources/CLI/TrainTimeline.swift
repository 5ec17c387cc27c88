import SwiftPSGraph
import SwiftPSModule
import SwiftPSTensor

/// `swiftps train --timeline`: the worker's `Timeline`, an `epochs` track spanning each epoch, and the
/// file it is rewritten to at every epoch end and after the final score.
final class TrainTimeline {
    /// The `epochs` track (above `compute`).
    static let epochTrack = 0

    let timeline: Timeline
    let path: String
    private var epochStart = MonotonicClock.now()

    init(timeline: Timeline, path: String) {
        self.timeline = timeline
        self.path = path
        timeline.nameTrack(Self.epochTrack, "epochs")
    }

    /// The timeline file a process was asked for: its `--timeline` flag, else `SWIFTPS_TIMELINE`
    /// (workers and servers alike, so that `swiftps launch --env` reaches every process).
    static func requestedPath(flag: String?) -> String? {
        flag ?? ProcessInfoLite.environment["SWIFTPS_TIMELINE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `path` for worker `rank` of `workers`: as given for one worker; for several,
    /// `trace.json` → `trace.worker1.json` (`trace` → `trace.worker1`), so that workers sharing a
    /// directory do not overwrite each other.
    static func path(_ path: String, rank: Int, workers: Int) -> String {
        workers > 1 ? Timeline.path(path, node: "worker\(rank)") : path
    }

    /// An epoch-end callback: closes the epoch's span and rewrites the file.
    func epochEnded(_ epoch: Int, _: Symbol?, _: [String: NDArray], _: [String: NDArray]) throws {
        let now = MonotonicClock.now()
        timeline.span("epoch \(epoch)", category: "epoch", track: Self.epochTrack, start: epochStart, end: now)
        epochStart = now
        try write()
    }

    /// Rewrites the file with everything recorded so far (an error names the file).
    func write() throws {
        try timeline.write(to: path)
    }
}
