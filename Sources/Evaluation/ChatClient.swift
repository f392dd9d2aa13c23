import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An OpenAI-compatible chat endpoint (vLLM, llama.cpp server, TGI, Ollama, OpenAI) with its model
/// and sampling settings. The API key is read from the environment variable `keyEnv` when a
/// request is made; it is never stored, logged or reported.
public struct Endpoint: Sendable, Equatable {
    public var baseURL: String
    public var model: String
    public var keyEnv: String?
    public var temperature: Double?
    public var maxTokens: Int?
    public var topP: Double?
    public var seed: Int?
    public var logprobs = false
    /// Names the model for the judge cache and the stored judgments (default: `model`), so two
    /// endpoints that serve the same weights under different model names share their cache.
    public var cacheKey: String?

    public init(baseURL: String, model: String, keyEnv: String? = nil, temperature: Double? = nil, maxTokens: Int? = nil,
                topP: Double? = nil, seed: Int? = nil, logprobs: Bool = false, cacheKey: String? = nil) {
        self.baseURL = baseURL
        self.model = model
        self.keyEnv = keyEnv
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.topP = topP
        self.seed = seed
        self.logprobs = logprobs
        self.cacheKey = cacheKey
    }

    /// What identifies the model behind the endpoint (not its URL): `cache_key` or the model name.
    public var identity: String { cacheKey ?? model }

    /// `url=http://localhost:8000/v1,model=aya,temperature=0,max_tokens=512,key_env=VLLM_KEY[,cache_key=NAME]`
    public static func parse(_ spec: String) throws -> (name: String?, endpoint: Endpoint) {
        var fields: [String: String] = [:]
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[1].isEmpty else { throw EvaluationError("endpoint '\(spec)': expected key=value pairs, found '\(part)'") }
            fields[kv[0]] = kv[1]
        }
        let known: Set = ["name", "url", "model", "key_env", "temperature", "max_tokens", "top_p", "seed", "logprobs", "cache_key"]
        if let bad = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw EvaluationError("endpoint '\(spec)': unknown key '\(bad)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let url = fields["url"], url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw EvaluationError("endpoint '\(spec)': url=http(s)://… is required")
        }
        guard let model = fields["model"] else { throw EvaluationError("endpoint '\(spec)': model=… is required") }
        func number(_ k: String) throws -> Double? {
            guard let v = fields[k] else { return nil }
            guard let d = Double(v) else { throw EvaluationError("endpoint '\(spec)': \(k) should be a number") }
            return d
        }
        var e = Endpoint(baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url, model: model, keyEnv: fields["key_env"])
        e.temperature = try number("temperature")
        e.maxTokens = try number("max_tokens").map { Int($0) }
        e.topP = try number("top_p")
        e.seed = try number("seed").map { Int($0) }
        e.logprobs = fields["logprobs"] == "true"
        e.cacheKey = fields["cache_key"]
        return (fields["name"], e)
    }

    /// Settings as JSON for the store (no key).
    public var settingsJSON: String {
        var parts: [String] = []
        if let t = temperature { parts.append("\"temperature\":\(t)") }
        if let m = maxTokens { parts.append("\"max_tokens\":\(m)") }
        if let p = topP { parts.append("\"top_p\":\(p)") }
        if let s = seed { parts.append("\"seed\":\(s)") }
        if logprobs { parts.append("\"logprobs\":true") }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

public struct ChatResult: Sendable {
    public var text: String
    public var finishReason: String?
    /// P(first choice token is "A") among A/B from the top log-probs of the verdict token, when
    /// the endpoint returned log-probs.
    public var pA: Double?
    public var attempts: Int
    public var latencyMs: Double
}

/// A request that failed for good (after the retries), with a reason a user can act on.
public struct RequestFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case unreachable, http, garbled, timeout, rejected }
    public let kind: Kind
    public let message: String
    public let attempts: Int
    public var description: String { message }
}

/// Sends chat completions with timeouts and retries: 429, 5xx, timeouts, dropped connections
/// and bodies that are not the expected JSON are retried with exponential backoff (and
/// `Retry-After` when given); other 4xx answers are not.
public final class ChatClient: Sendable {
    let http: HTTPClient
    public let timeout: TimeAmount
    public let maxAttempts: Int
    public let backoffMs: Double

    public init(timeoutSeconds: Double = 60, maxAttempts: Int = 5, backoffMs: Double = 500, connections: Int = 64) {
        var config = HTTPClient.Configuration()
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        config.timeout.connect = .milliseconds(Int64(min(10, timeoutSeconds) * 1000))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        self.maxAttempts = max(1, maxAttempts)
        self.backoffMs = backoffMs
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    public func complete(_ endpoint: Endpoint, messages: [(role: String, content: String)]) async throws(RequestFailure) -> ChatResult {
        var body: [String: Any] = [
            "model": endpoint.model,
            "messages": messages.map { ["role": $0.role, "content": $0.content] },
        ]
        if let t = endpoint.temperature { body["temperature"] = t }
        if let m = endpoint.maxTokens { body["max_tokens"] = m }
        if let p = endpoint.topP { body["top_p"] = p }
        if let s = endpoint.seed { body["seed"] = s }
        if endpoint.logprobs { body["logprobs"] = true; body["top_logprobs"] = 5 }
        let payload = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        let url = endpoint.baseURL + "/chat/completions"
        let key = endpoint.keyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        let start = Date()
        var attempt = 0
        var lastFailure = RequestFailure(kind: .unreachable, message: "\(url): no attempt made", attempts: 0)
        while attempt < maxAttempts {
            attempt += 1
            var retryAfter: Double?
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
                request.body = .bytes(ByteBuffer(bytes: payload))
                let response = try await http.execute(request, timeout: timeout)
                let bytes = try await response.body.collect(upTo: 16 << 20)
                let status = response.status.code
                if status == 200 {
                    if var result = Self.decode(Data(bytes.readableBytesView)) {
                        result.attempts = attempt
                        result.latencyMs = Date().timeIntervalSince(start) * 1000
                        return result
                    }
                    lastFailure = RequestFailure(kind: .garbled, message: "\(url): the answer is not an OpenAI chat completion", attempts: attempt)
                } else if status == 429 || status >= 500 {
                    retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
                    lastFailure = RequestFailure(kind: .http, message: "\(url): HTTP \(status)", attempts: attempt)
                } else {
                    let hint = status == 401 || status == 403
                        ? " (check the API key in $\(endpoint.keyEnv ?? "…"); set key_env= on the endpoint)" : status == 404 ? " (is the url the /v1 base and the model served?)" : ""
                    let text = String(buffer: bytes).prefix(200).replacingOccurrences(of: "\n", with: " ")
                    throw RequestFailure(kind: .rejected, message: "\(url): HTTP \(status)\(hint): \(text)", attempts: attempt)
                }
            } catch let failure as RequestFailure {
                throw failure
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
                lastFailure = RequestFailure(kind: .timeout, message: "\(url): no answer within \(timeout.nanoseconds / 1_000_000) ms", attempts: attempt)
            } catch {
                // A refused connection is known at once: do not wait out retries (the HTTP client's
                // pool waits its connect timeout on each); a dropped connection is retried.
                if case .refused(let why) = Reachability.probe(endpoint.baseURL, timeoutSeconds: 2) {
                    throw RequestFailure(kind: .unreachable, message: "cannot reach \(endpoint.baseURL): \(why)", attempts: attempt)
                }
                let reason = "\(error)".replacingOccurrences(of: "\n", with: " ")
                lastFailure = RequestFailure(kind: .unreachable, message: "\(url): cannot reach the endpoint (\(reason))", attempts: attempt)
            }
            guard attempt < maxAttempts else { break }
            let wait = retryAfter.map { $0 * 1000 } ?? backoffMs * pow(2, Double(attempt - 1)) * Double.random(in: 0.75...1.25)
            try? await Task.sleep(nanoseconds: UInt64(max(0, wait) * 1_000_000))
        }
        throw RequestFailure(kind: lastFailure.kind, message: lastFailure.message + " after \(attempt) attempts", attempts: attempt)
    }

    static func decode(_ data: Data) -> ChatResult? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]], let first = choices.first,
              let message = first["message"] as? [String: Any], let text = message["content"] as? String
        else { return nil }
        var pA: Double?
        if let logprobs = first["logprobs"] as? [String: Any], let content = logprobs["content"] as? [[String: Any]] {
            // The verdict token: the last token that reads A or B.
            for token in content.reversed() {
                guard let t = (token["token"] as? String)?.trimmingCharacters(in: .whitespaces), t == "A" || t == "B",
                      let top = token["top_logprobs"] as? [[String: Any]] else { continue }
                var a = -Double.infinity, b = -Double.infinity
                for alt in top {
                    guard let tok = (alt["token"] as? String)?.trimmingCharacters(in: .whitespaces), let lp = alt["logprob"] as? Double else { continue }
                    if tok == "A" { a = max(a, lp) } else if tok == "B" { b = max(b, lp) }
                }
                if a.isFinite || b.isFinite { pA = exp(a) / (exp(a) + exp(b)) }
                break
            }
        }
        return ChatResult(text: text, finishReason: first["finish_reason"] as? String, pA: pA, attempts: 0, latencyMs: 0)
    }
}
