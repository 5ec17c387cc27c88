extension Message: CustomDebugStringConvertible {
    /// A one-line summary in the style of ps-lite's `Message::DebugString`, for example
    /// `[9=>8 req push ts=4 head=1 body=12B data=[uint64:8B, float32:4194304B]]`.
    public var debugDescription: String {
        var parts: [String] = []
        parts.append("\(sender)=>\(recver)")
        parts.append(request ? "req" : "resp")
        if push { parts.append("push") }
        if pull { parts.append("pull") }
        if simpleApp { parts.append("simple_app") }
        if timestamp != 0 { parts.append("ts=\(timestamp)") }
        if priority != 0 { parts.append("prio=\(priority)") }
        if head != 0 { parts.append("head=\(head)") }
        if !body.isEmpty { parts.append("body=\(body.count)B") }
        if isControl {
            var control = "control={cmd=\(self.control.cmd)"
            if self.control.barrierGroup != 0 { control += " group=\(self.control.barrierGroup)" }
            if self.control.epoch != 0 { control += " epoch=\(self.control.epoch)" }
            if !self.control.nodes.isEmpty {
                control += " nodes=[" + self.control.nodes.map(\.description).joined(separator: ", ") + "]"
            }
            if !self.control.auth.isEmpty { control += " auth" }
            parts.append(control + "}")
        }
        if !error.isEmpty { parts.append("error=\"\(error)\"") }
        if !data.isEmpty {
            parts.append("data=[" + data.map { "\($0.dataType):\($0.byteCount)B" }.joined(separator: ", ") + "]")
        }
        return "[" + parts.joined(separator: " ") + "]"
    }
}
