import Checkpoints
import Foundation
import Inference

/// A model the server can answer for: turns requests into prompt ids and runs them.
public protocol ServedModel: Sendable {
    /// The name clients put in `"model"`.
    var name: String { get }
    var contextLength: Int { get }
    /// End-of-sequence ids (`generation_config.json`'s `eos_token_id`, else the tokenizer's EOS).
    var stopTokens: Set<Int32> { get }
    /// The chat template applied to an OpenAI `messages` list (and `tools`), tokenised.
    func chatPrompt(messages: JSONValue, tools: JSONValue?, addGenerationPrompt: Bool) throws -> [Int32]
    /// A plain text prompt, tokenised with the tokenizer's special tokens (BOS).
    func textPrompt(_ text: String) throws -> [Int32]
    /// The text of one token, for log-probs.
    func tokenText(_ id: Int32) -> String
    @discardableResult
    func submit(_ request: GenerationRequest, sink: @escaping @Sendable (GenerationEvent) -> Void) throws(EngineError) -> UInt64
    func cancel(_ id: UInt64)
}

/// An error answered in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var type: String
    public var message: String
    public var param: String?
    public var code: String?

    public init(_ status: Int, _ type: String, _ message: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.code = code
    }

    public static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(400, "invalid_request_error", message, param: param)
    }

    public var description: String { message }

    public var json: String {
        JSONValue.object([
            ("error", .object([
                ("message", .string(message)), ("type", .string(type)),
                ("param", param.map { .string($0) } ?? .null), ("code", code.map { .string($0) } ?? .null),
            ]))
        ]).serialized(indent: nil)
    }

    static func from(_ e: EngineError) -> APIError {
        switch e {
        case .queueFull: APIError(429, "rate_limit_error", e.description, code: "queue_full")
        case .promptTooLong: APIError(400, "invalid_request_error", e.description, param: "messages", code: "context_length_exceeded")
        case .emptyPrompt: .invalid(e.description, param: "prompt")
        case .stopped: APIError(503, "server_error", e.description)
        case .invalid(let m): .invalid(m)
        }
    }
}

/// The parsed generation part of a chat or text completion request.
struct CompletionSettings {
    var model: String?
    var stream = false
    var includeUsage = false
    var request: GenerationRequest

    /// Reads the settings OpenAI (and vLLM) define; unknown keys are ignored as OpenAI's servers do.
    init(_ body: JSONValue, prompt: [Int32], stopTokens: Set<Int32>, chat: Bool) throws(APIError) {
        func number(_ key: String) throws(APIError) -> Double? {
            guard let v = body[key], v != .null else { return nil }
            guard let d = v.doubleValue else { throw .invalid("'\(key)' must be a number", param: key) }
            return d
        }
        func integer(_ key: String) throws(APIError) -> Int? {
            guard let v = body[key], v != .null else { return nil }
            guard let i = v.intValue else { throw .invalid("'\(key)' must be an integer", param: key) }
            return i
        }
        model = body["model"]?.stringValue
        if let s = body["stream"], s != .null {
            guard let b = s.boolValue else { throw .invalid("'stream' must be a boolean", param: "stream") }
            stream = b
        }
        includeUsage = body["stream_options"]?["include_usage"]?.boolValue ?? false
        if let n = try integer("n"), n != 1 { throw .invalid("only n = 1 is supported", param: "n") }
        var sampling = SamplingParameters()
        if let v = try number("temperature") { sampling.temperature = v }
        if let v = try number("top_p") { sampling.topP = v }
        if let v = try integer("top_k") { sampling.topK = max(0, v) }
        if let v = try number("min_p") { sampling.minP = v }
        if let v = try number("repetition_penalty") { sampling.repetitionPenalty = v }
        if let v = try number("frequency_penalty") { sampling.frequencyPenalty = v }
        if let v = try number("presence_penalty") { sampling.presencePenalty = v }
        if let seed = try integer("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        if let problem = sampling.problem { throw .invalid(problem) }
        let newer = try integer("max_completion_tokens")
        let older = try integer("max_tokens")
        let maxTokens = newer ?? older ?? (chat ? 512 : 16)
        guard maxTokens >= 1 else { throw .invalid("'max_tokens' must be at least 1", param: "max_tokens") }
        var stop: [String] = []
        switch body["stop"] {
        case nil, .null?: break
        case .string(let s)?: stop = [s]
        case .array(let a)?:
            for v in a {
                guard let s = v.stringValue else { throw .invalid("'stop' must be a string or a list of strings", param: "stop") }
                stop.append(s)
            }
        default: throw .invalid("'stop' must be a string or a list of strings", param: "stop")
        }
        var logprobs: Int?
        if chat {
            let top = try integer("top_logprobs")
            if body["logprobs"]?.boolValue == true { logprobs = max(0, top ?? 0) }
        } else if let n = try integer("logprobs") {
            logprobs = max(0, n)
        }
        if let l = logprobs, l > 20 { throw .invalid("'top_logprobs' must be at most 20", param: "top_logprobs") }
        var stops = stopTokens
        if body["ignore_eos"]?.boolValue == true { stops = [] }
        request = GenerationRequest(prompt: prompt, sampling: sampling, maxTokens: maxTokens, stop: stop,
                                    stopTokens: stops, logprobs: logprobs)
    }
}

/// Builds the JSON bodies of OpenAI's responses.
enum OpenAIResponse {
    static func usage(prompt: Int, completion: Int) -> JSONValue {
        .object([("prompt_tokens", .int(prompt)), ("completion_tokens", .int(completion)),
                 ("total_tokens", .int(prompt + completion))])
    }

    static func number(_ f: Float) -> JSONValue {
        f.isFinite ? .number("\(f)") : .number("-9999.0")
    }

    /// Chat log-probs: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`.
    static func chatLogprobs(_ items: [TokenLogprobs], _ text: (Int32) -> String) -> JSONValue {
        func entry(_ id: Int32, _ lp: Float) -> [(String, JSONValue)] {
            let t = text(id)
            return [("token", .string(t)), ("logprob", number(lp)), ("bytes", .array(Array(t.utf8).map { .int(Int($0)) }))]
        }
        return .object([("content", .array(items.map { item in
            .object(entry(item.token, item.logprob) + [("top_logprobs", .array(item.top.map { .object(entry($0.token, $0.logprob)) }))])
        }))])
    }

    /// Text-completion log-probs: `{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`.
    static func textLogprobs(_ items: [TokenLogprobs], _ text: (Int32) -> String) -> JSONValue {
        var offset = 0
        var offsets: [JSONValue] = []
        for item in items {
            offsets.append(.int(offset))
            offset += text(item.token).utf8.count
        }
        return .object([
            ("tokens", .array(items.map { .string(text($0.token)) })),
            ("token_logprobs", .array(items.map { number($0.logprob) })),
            ("top_logprobs", .array(items.map { item in .object(item.top.map { (text($0.token), number($0.logprob)) }) })),
            ("text_offset", .array(offsets)),
        ])
    }
}
