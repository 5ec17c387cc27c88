import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// "Machines" made of Linux network namespaces: namespace 0 is the launching host and holds a bridge with
/// 10.213.R.1; hosts 1...N are namespaces joined to it by veth pairs, with 10.213.R.(i+1) and an sshd of their
/// own (a throwaway host key, a throwaway client key). Nothing is added to the root namespace; every name
/// carries a random suffix, and `tearDown` (call it in `defer`) removes sshds, veths and namespaces.
final class LaunchLab {
    /// Why the lab cannot run here, or nil.
    static let unavailable: String? = {
        if getuid() != 0 { return "network namespaces need root" }
        for tool in ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing: apt-get install -y openssh-server openssh-client iproute2 (scripts/setup)"
        }
        guard
            let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { return "ip is missing: apt-get install -y iproute2" }
        let probe = "swlprobe\(UInt32.random(in: 0...UInt32.max))"
        guard (try? LaunchCommand.run([ip, "netns", "add", probe], deadline: .seconds(20)))?.status == 0 else {
            return "cannot create network namespaces here (ip netns add failed)"
        }
        _ = try? LaunchCommand.run([ip, "netns", "del", probe], deadline: .seconds(20))
        return nil
    }()

    static let ip =
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "ip"

    let suffix = String(UInt32.random(in: 0...0xFFFF_FFFF), radix: 36)
    let subnet = Int.random(in: 1...254)
    let directory: URL
    let hostCount: Int
    private var namespaces: [String] = []
    private var sshds: [LaunchCommand] = []

    /// The namespace of the launching host.
    var launcherNamespace: String { "swl\(suffix)0" }
    /// The address of host `i` (1-based).
    func address(_ host: Int) -> String { "10.213.\(subnet).\(host + 1)" }
    /// The port of host `i`'s sshd: host 2 listens on 2222, which the hostfile gives as `address:2222`
    /// (dmlc's `ip:port`), so every ssh test also covers a host on another port.
    func sshPort(_ host: Int) -> Int { host == 2 ? 2222 : 22 }
    /// Host `i` as the launcher names it in its plan and messages.
    func label(_ host: Int) -> String {
        sshPort(host) == 22 ? address(host) : "\(address(host)) (ssh port \(sshPort(host)))"
    }
    /// The root-side veth of host `i`, inside the launcher namespace.
    func veth(_ host: Int) -> String { "swv\(suffix)\(host)" }
    /// The hostfile listing every host.
    var hostfile: String { directory.appendingPathComponent("hosts").path }
    /// The ssh options that use the lab's key and known_hosts (host keys are checked).
    var sshOptions: [String] {
        [
            "--ssh-option", "-i \(directory.appendingPathComponent("client").path)",
            "--ssh-option", "-o UserKnownHostsFile=\(directory.appendingPathComponent("known_hosts").path)",
            "--ssh-option", "-o ServerAliveInterval=1", "--ssh-option", "-o ServerAliveCountMax=3",
        ]
    }

    init(hosts: Int) throws {
        hostCount = hosts
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swl-lab-\(suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            try build()
        } catch {
            tearDown()
            throw error
        }
    }

    private func run(_ arguments: [String]) throws {
        let result = try LaunchCommand.run(arguments, deadline: .seconds(30))
        guard result.status == 0 else {
            throw LaunchTestError("\(arguments.joined(separator: " ")) failed: \(result.standardError)")
        }
    }

    private func build() throws {
        let dir = directory.path
        try run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "\(dir)/hostkey"])
        try run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "\(dir)/client"])
        try FileManager.default.copyItem(atPath: "\(dir)/client.pub", toPath: "\(dir)/authorized_keys")
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let hostKey = try String(contentsOfFile: "\(dir)/hostkey.pub", encoding: .utf8)
        let ip = Self.ip
        let hub = launcherNamespace
        try run([ip, "netns", "add", hub])
        namespaces.append(hub)
        try run([ip, "-n", hub, "link", "set", "lo", "up"])
        try run([ip, "-n", hub, "link", "add", "br0", "type", "bridge"])
        try run([ip, "-n", hub, "addr", "add", "10.213.\(subnet).1/24", "dev", "br0"])
        try run([ip, "-n", hub, "link", "set", "br0", "up"])
        var knownHosts = ""
        var hosts = ""
        for host in 1...hostCount {
            let name = "swl\(suffix)\(host)"
            try run([ip, "netns", "add", name])
            namespaces.append(name)
            try run([ip, "-n", name, "link", "set", "lo", "up"])
            try run([
                ip, "link", "add", veth(host), "netns", hub, "type", "veth", "peer", "name", "eth0", "netns", name,
            ])
            try run([ip, "-n", hub, "link", "set", veth(host), "master", "br0"])
            try run([ip, "-n", hub, "link", "set", veth(host), "up"])
            try run([ip, "-n", name, "addr", "add", "\(address(host))/24", "dev", "eth0"])
            try run([ip, "-n", name, "link", "set", "eth0", "up"])
            let config = """
                ListenAddress \(address(host))
                Port \(sshPort(host))
                HostKey \(dir)/hostkey
                AuthorizedKeysFile \(dir)/authorized_keys
                PidFile \(dir)/sshd\(host).pid
                StrictModes no
                UsePAM no
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                PermitRootLogin prohibit-password
                ClientAliveInterval 1
                ClientAliveCountMax 3

                """
            try config.write(toFile: "\(dir)/sshd\(host).conf", atomically: true, encoding: .utf8)
            sshds.append(
                try LaunchCommand([
                    ip, "netns", "exec", name, "/usr/sbin/sshd", "-D", "-f", "\(dir)/sshd\(host).conf", "-E",
                    "\(dir)/sshd\(host).log",
                ]))
            let port = sshPort(host)
            knownHosts += port == 22 ? "\(address(host)) \(hostKey)" : "[\(address(host))]:\(port) \(hostKey)"
            hosts += port == 22 ? "\(address(host))\n" : "\(address(host)):\(port)\n"
        }
        try knownHosts.write(toFile: "\(dir)/known_hosts", atomically: true, encoding: .utf8)
        try hosts.write(toFile: hostfile, atomically: true, encoding: .utf8)
        for host in 1...hostCount {
            let reachable = LaunchPoll.until(.seconds(20)) {
                let probe = try? LaunchCommand.run(
                    [ip, "netns", "exec", hub, "/usr/bin/ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=2"]
                        + [
                            "-i", "\(dir)/client", "-o", "UserKnownHostsFile=\(dir)/known_hosts", "-p",
                            String(sshPort(host)), address(host), "true",
                        ],
                    deadline: .seconds(10))
                return probe?.status == 0
            }
            guard reachable else {
                let log = (try? String(contentsOfFile: "\(dir)/sshd\(host).log", encoding: .utf8)) ?? ""
                throw LaunchTestError("sshd in \(address(host)) did not accept the test key: \(log)")
            }
        }
    }

    /// The command line that runs `arguments` on the launching host.
    func onLauncher(_ arguments: [String]) -> [String] {
        [Self.ip, "netns", "exec", launcherNamespace] + arguments
    }

    /// Cuts host `i` off the network (its link to the bridge goes down).
    func cut(_ host: Int) throws {
        try run([Self.ip, "-n", launcherNamespace, "link", "set", veth(host), "down"])
    }

    /// Stops the sshds and deletes the namespaces (which deletes their veths) and the key directory.
    func tearDown() {
        for sshd in sshds { sshd.kill() }
        sshds.removeAll()
        for name in namespaces.reversed() {
            _ = try? LaunchCommand.run([Self.ip, "netns", "del", name], deadline: .seconds(30))
        }
        namespaces.removeAll()
        try? FileManager.default.removeItem(at: directory)
    }
}
