import Foundation

/// The shell program `swiftps launch --launcher ssh` sends on the standard input of `ssh HOST /bin/sh -s`.
///
/// Unlike dmlc's ssh launcher, nothing secret is on a command line: the environment and the secret travel on
/// stdin. The program writes the secret to a 0600 file in a private temporary directory, exports the
/// environment, changes to the working directory, starts the command in its own session and process group,
/// prints `@@swiftps-launch pgid=N`, and then watches its standard input: when the launcher closes it (or dies,
/// or the connection drops and sshd closes it), the whole process group gets SIGTERM, then SIGKILL after the
/// grace period. It ends by printing `@@swiftps-launch exit=STATUS` and removing the temporary directory.
/// The whole program is one `{ ... }` block, so the shell has read all of it before anything reads stdin.
struct LaunchRemoteScript {
    /// The marker that starts the program's own lines in the output.
    static let marker = "@@swiftps-launch "

    /// The command to run, as arguments.
    var command: [String]
    /// Variables to export.
    var environment: [LaunchVariable]
    /// The secret's bytes, written to `$dir/secret` and exported as `SWIFTPS_SECRET_FILE`.
    var secret: [UInt8]?
    /// Where to run; `nil` stays in the login directory.
    var workingDirectory: String?
    /// Seconds between SIGTERM and SIGKILL when stdin closes.
    var graceSeconds: Int

    /// The program's text.
    var text: String {
        var lines = [
            "{",
            "umask 077",
            "swiftps_host=$(hostname)",
            "swiftps_dir=$(mktemp -d \"${TMPDIR:-/tmp}/swiftps-launch.XXXXXX\") || { echo \"swiftps launch: "
                + "cannot create a temporary directory on $swiftps_host: check TMPDIR and disk space\" >&2; exit 125; }",
            "swiftps_pgid=",
            "swiftps_watcher=",
            // The watcher goes first: one that saw stdin close could otherwise write `stopping` into
            // the directory while rm empties it (a shell ended by a signal does not wait for it).
            "swiftps_cleanup() {",
            "  if [ -n \"$swiftps_watcher\" ]; then kill \"$swiftps_watcher\" 2>/dev/null; wait \"$swiftps_watcher\" 2>/dev/null; fi",
            "  if [ -n \"$swiftps_pgid\" ]; then kill -KILL \"-$swiftps_pgid\" 2>/dev/null; fi",
            "  rm -rf \"$swiftps_dir\"",
            "}",
            "trap swiftps_cleanup EXIT",
            "trap 'exit 129' HUP",
            "trap 'exit 130' INT",
            "trap 'exit 143' TERM",
            // An ssh connection that is gone closes stdout too: the last echo would end the shell by
            // SIGPIPE, which runs no EXIT trap, and the directory stayed.
            "trap 'exit 141' PIPE",
        ]
        if let secret {
            let encoded = Data(secret).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
            lines.append("base64 -d > \"$swiftps_dir/secret\" <<'SWIFTPS_SECRET_END' || exit 125")
            lines.append(contentsOf: encoded.split(separator: "\n").map(String.init))
            lines.append("SWIFTPS_SECRET_END")
            lines.append("export SWIFTPS_SECRET_FILE=\"$swiftps_dir/secret\"")
        }
        for variable in environment {
            lines.append("export \(variable.name)=\(LaunchParse.shellQuote(variable.value))")
        }
        if let workingDirectory {
            let quoted = LaunchParse.shellQuote(workingDirectory)
            // The directory is an argument of printf, never part of its format or of a double-quoted
            // string, where a `"` or `$(…)` in it would be read again.
            lines.append(
                "cd \(quoted) || { printf 'swiftps launch: cannot cd to %s on %s: create it or fix --workdir\\n' "
                    + "\(quoted) \"$swiftps_host\" >&2; exit 125; }")
        }
        let command = self.command.map(LaunchParse.shellQuote).joined(separator: " ")
        lines += [
            "exec 3<&0",
            "setsid \(command) </dev/null 3<&- &",
            "swiftps_pgid=$!",
            "echo \"\(Self.marker)pgid=$swiftps_pgid\"",
            "( while read -r swiftps_line; do :; done",
            "  : > \"$swiftps_dir/stopping\"",
            "  kill -TERM \"-$swiftps_pgid\" 2>/dev/null",
            "  swiftps_waited=0",
            "  while [ \"$swiftps_waited\" -lt \(graceSeconds) ] && kill -0 \"-$swiftps_pgid\" 2>/dev/null; do",
            "    sleep 1; swiftps_waited=$((swiftps_waited + 1))",
            "  done",
            "  kill -KILL \"-$swiftps_pgid\" 2>/dev/null ) <&3 &",
            "swiftps_watcher=$!",
            "exec 3<&-",
            "wait \"$swiftps_pgid\"",
            "swiftps_status=$?",
            // In a stop, what the command started gets the rest of the grace period (the watcher's
            // loop) before the EXIT trap kills the group; otherwise nothing is waiting for it.
            "if [ -e \"$swiftps_dir/stopping\" ]; then wait \"$swiftps_watcher\"; else kill \"$swiftps_watcher\" 2>/dev/null; fi",
            "echo \"\(Self.marker)exit=$swiftps_status\"",
            "exit \"$swiftps_status\"",
            "}",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
