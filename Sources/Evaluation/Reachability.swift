import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether anything accepts TCP connections at an endpoint's host and port: one non-blocking
/// `connect` per resolved address, bounded by a timeout. A refused connection is known at once,
/// so a server that is down is reported in milliseconds instead of after the HTTP client's
/// connect timeout and its retries.
public enum Reachability {
    public enum Outcome: Sendable, Equatable {
        case reachable
        /// Nothing listens there (ECONNREFUSED), or another immediate failure with its reason.
        case refused(String)
        /// No answer within the timeout (a firewall dropping packets, a host that is off).
        case silent
        /// The host name does not resolve, or the URL has no host.
        case unresolvable(String)
    }

    /// Probes the host and port of `baseURL` (default port 80 for http, 443 for https).
    public static func probe(_ baseURL: String, timeoutSeconds: Double = 3) -> Outcome {
        guard let url = URL(string: baseURL), let host = url.host, !host.isEmpty else { return .unresolvable("no host in the URL") }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let host6 = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(host6, String(port), &hints, &list)
        guard status == 0, let first = list else {
            return .unresolvable(String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var outcome = Outcome.silent
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            outcome = connectOnce(ai.pointee, timeoutMs: Int32(max(1, timeoutSeconds * 1000)))
            if outcome == .reachable { return outcome }
            node = ai.pointee.ai_next
        }
        return outcome
    }

    static func connectOnce(_ ai: addrinfo, timeoutMs: Int32) -> Outcome {
        let fd = socket(ai.ai_family, ai.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), ai.ai_protocol)
        guard fd >= 0 else { return .refused(String(cString: strerror(errno))) }
        defer { close(fd) }
        if connect(fd, ai.ai_addr, ai.ai_addrlen) == 0 { return .reachable }
        guard errno == EINPROGRESS else { return describe(errno) }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&p, 1, timeoutMs)
        guard ready > 0 else { return .silent }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return describe(errno) }
        return error == 0 ? .reachable : describe(error)
    }

    static func describe(_ code: Int32) -> Outcome {
        code == ECONNREFUSED ? .refused("connection refused") : .refused(String(cString: strerror(code)).lowercased())
    }

    /// Fails when nothing listens at the endpoint (or its host does not resolve); with
    /// `waitSeconds` > 0, probes again every 250 ms until something does or the time is up. A host
    /// that does not answer within the probe's timeout is left to the HTTP client's own connect
    /// timeout and retries (a slow network is not a dead server). The failure is one line naming
    /// the URL.
    public static func require(_ baseURL: String, waitSeconds: Double = 0) async throws(RequestFailure) {
        let deadline = Date().addingTimeInterval(max(0, waitSeconds))
        while true {
            let reason: String
            switch probe(baseURL, timeoutSeconds: 3) {
            case .reachable: return
            case .silent: if Date() >= deadline { return } else { reason = "" }
            case .refused(let why): reason = why
            case .unresolvable(let why): reason = "cannot resolve the host (\(why))"
            }
            if Date() >= deadline {
                let hint = waitSeconds > 0
                    ? " (waited \(formatSeconds(waitSeconds)) s)"
                    : "; is the server running? (--wait-for-server SECONDS waits for one still starting)"
                throw RequestFailure(kind: .unreachable, message: "cannot reach \(baseURL): \(reason)\(hint)", attempts: 1)
            }
            try? await Task.sleep(nanoseconds: 250_000_000)
        }
    }

    static func formatSeconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
}
