import SwiftPSTransport

extension PostOffice {
    /// Sends `message` as a request to node `id` and waits for the response with the same timestamp,
    /// like ps-lite's `Customer::NewRequest` + `WaitRequest`, but with a deadline (default
    /// `requestTimeout`). The request gets a fresh timestamp. A response carrying `error` throws
    /// `ClusterError.remoteError`; a job termination fails the wait at once.
    public func request(_ message: Message, to id: Int32, timeout: Double? = nil) throws -> Message {
        var message = message
        message.request = true
        message.timestamp = nextTimestamp()
        let key = PendingKey(peer: id, timestamp: message.timestamp)
        let seconds = timeout ?? config.requestTimeout
        locked { pending[key] = .some(nil) }
        defer { locked { _ = pending.removeValue(forKey: key) } }
        try send(message, to: id)
        state.lock()
        defer { state.unlock() }
        let answered = clock.wait(on: state, until: clock.now() + seconds) {
            (pending[key] ?? nil) != nil || terminalError != nil || phase == .stopped
        }
        if let response = pending[key] ?? nil {
            guard response.error.isEmpty else {
                throw ClusterError.remoteError(peer: describe(id), message: response.error)
            }
            return response
        }
        if let terminalError { throw terminalError }
        if phase == .stopped { throw ClusterError.notRunning("stopped while waiting for \(describe(id))") }
        precondition(!answered)
        throw ClusterError.requestTimeout(peer: describe(id), seconds: seconds)
    }

    /// Answers `request` with `response` (ps-lite's `KVServer::Response` / `SimpleApp::Response`): copies
    /// its timestamp, marks it a response and sends it to the requester.
    @discardableResult
    public func respond(to request: Message, with response: Message) throws -> Int {
        var response = response
        response.timestamp = request.timestamp
        response.request = false
        return try send(response, to: request.sender)
    }
}
