import Foundation
import Logging

/// Ends this process when the `swiftps launch` that started it is gone, so that killing the
/// launcher (even with SIGKILL, which it cannot catch) never leaves a scheduler, server or worker
/// behind. The local launcher, and each `--slurm-task` launcher of a Slurm job, passes its pid in
/// `SWIFTPS_LAUNCHER_PID`.
enum LauncherWatch {
    /// The variable holding the launcher's pid.
    static let variable = "SWIFTPS_LAUNCHER_PID"

    /// Starts watching when this process was started by a local or Slurm task launcher; does nothing otherwise.
    /// Checks twice a second; the check is one `kill(pid, 0)`.
    static func startIfLaunched(logger: Logger) {
        guard let text = ProcessInfo.processInfo.environment[variable], let pid = pid_t(text), pid > 1 else {
            return
        }
        let thread = Thread {
            while true {
                if kill(pid, 0) != 0 && errno == ESRCH {
                    logger.error("the launcher (pid \(pid)) is gone: stopping this process")
                    printError("swiftps: the launcher (pid \(pid)) is gone: stopping")
                    _exit(1)
                }
                usleep(500_000)
            }
        }
        thread.name = "launcher-watch"
        thread.start()
    }
}
