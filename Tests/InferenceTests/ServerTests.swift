import Checkpoints
import Foundation
import Inference
import Testing

@testable import Serving

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The counting model behind the server: a prompt's ids are its characters' offsets from "a".
final class CountingServed: ServedModel {
    let name: String
    let engine: GenerationEngine<CountingModel>
    var contextLength: Int { engine.contextLength }
    let stopTokens: Set<Int32> = [25]

    init(name: String = "counter", context: Int = 64, maxBatch: Int = 8, maxQueued: Int = 64) {
        self.name = name
        engine = GenerationEngine(model: CountingModel(vocab: 26, context: context), maxBatch: maxBatch, maxQueued: maxQueued,
                                  detokenize: letters)
    }

    func ids(_ s: String) -> [Int32] { s.unicodeScalars.map { Int32(($0.value &- 97) % 26) } }

    func chatPrompt(messages: JSONValue, tools: JSONValue?, addGenerationPrompt: Bool) throws -> [Int32] {
        guard case .array(let list) = messages else { throw APIError.invalid("messages") }
        return list.flatMap { ids($0["content"]?.stringValue ?? "") }
    }

    func textPrompt(_ text: String) throws -> [Int32] { ids(text) }
    func tokenText(_ id: Int32) -> String { letters([id]) }
    func submit(_ request: GenerationRequest, sink: @escaping @Sendable (GenerationEvent) -> Void) throws(EngineError) -> UInt64 {
        try engine.submit(request, sink: sink)
    }
    func cancel(_ id: UInt64) { engine.cancel(id) }
}

/// Minimal blocking HTTP calls for the tests.
func call(_ url: String, method: String = "GET", body: String? = nil, key: String? = nil) async throws -> (Int, String) {
    var request = URLRequest(url: try #require(URL(string: url)))
    request.httpMethod = method
    if let body {
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

@Suite("OpenAI-compatible server", .serialized)
struct ServerTests {
    func serve(_ models: [any ServedModel], key: String? = nil) throws -> (OpenAIServer, String) {
        let server = OpenAIServer(models: models, options: .init(host: "127.0.0.1", port: 0, apiKey: key))
        let port = try server.start()
        return (server, "http://127.0.0.1:\(port)")
    }

    @Test("models, a chat completion, and the same answer streamed as server-sent events")
    func chatAndStream() async throws {
        let (server, base) = try serve([CountingServed()])
        defer { server.shutdown() }
        let (s0, models) = try await call(base + "/v1/models")
        #expect(s0 == 200)
        #expect(try JSONValue.parse(models)["data"]?.arrayValue?.first?["id"]?.stringValue == "counter")

        let body = #"{"model": "counter", "messages": [{"role": "user", "content": "cab"}], "max_tokens": 6, "temperature": 0}"#
        let (s1, text) = try await call(base + "/v1/chat/completions", method: "POST", body: body)
        #expect(s1 == 200)
        let answer = try JSONValue.parse(text)
        let content = try #require(answer["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue)
        #expect(content.count == 6)
        #expect(answer["usage"]?["prompt_tokens"]?.intValue == 3)
        #expect(answer["usage"]?["completion_tokens"]?.intValue == 6)
        #expect(answer["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue == "length")

        let streamed = body.replacingOccurrences(of: "\"temperature\": 0", with: "\"temperature\": 0, \"stream\": true, \"stream_options\": {\"include_usage\": true}")
        let (s2, events) = try await call(base + "/v1/chat/completions", method: "POST", body: streamed)
        #expect(s2 == 200)
        let lines = events.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
        #expect(lines.last == "[DONE]")
        var reassembled = ""
        var usage: JSONValue?
        for line in lines.dropLast() {
            let chunk = try JSONValue.parse(String(line))
            #expect(chunk["object"]?.stringValue == "chat.completion.chunk")
            if let u = chunk["usage"] { usage = u }
            reassembled += chunk["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue ?? ""
        }
        #expect(reassembled == content)
        #expect(usage?["completion_tokens"]?.intValue == 6)
    }

    @Test("text completions with log-probs")
    func textCompletion() async throws {
        let (server, base) = try serve([CountingServed()])
        defer { server.shutdown() }
        let (status, text) = try await call(base + "/v1/completions", method: "POST",
            body: #"{"model": "counter", "prompt": "ab", "max_tokens": 3, "temperature": 0, "logprobs": 2}"#)
        #expect(status == 200)
        let choice = try #require(try JSONValue.parse(text)["choices"]?.arrayValue?.first)
        #expect(choice["text"]?.stringValue?.count == 3)
        #expect(choice["logprobs"]?["tokens"]?.arrayValue?.count == 3)
        #expect(choice["logprobs"]?["top_logprobs"]?.arrayValue?.first?.objectValue?.count == 2)
    }

    @Test("errors in OpenAI's shape: unknown model, bad JSON, context too long, bad setting, missing key")
    func errors() async throws {
        let (server, base) = try serve([CountingServed()], key: "sesame")
        defer { server.shutdown() }
        let url = base + "/v1/chat/completions"
        let (s401, e401) = try await call(url, method: "POST", body: "{}")
        #expect(s401 == 401)
        #expect(try JSONValue.parse(e401)["error"]?["code"]?.stringValue == "invalid_api_key")
        let (s404, e404) = try await call(url, method: "POST", body: #"{"model": "nope", "messages": [{"role": "user", "content": "a"}]}"#, key: "sesame")
        #expect(s404 == 404)
        #expect(try JSONValue.parse(e404)["error"]?["code"]?.stringValue == "model_not_found")
        let (s400, _) = try await call(url, method: "POST", body: "{not json", key: "sesame")
        #expect(s400 == 400)
        let long = String(repeating: "a", count: 100)
        let (sLong, eLong) = try await call(url, method: "POST", body: #"{"messages": [{"role": "user", "content": "\#(long)"}]}"#, key: "sesame")
        #expect(sLong == 400)
        #expect(try JSONValue.parse(eLong)["error"]?["code"]?.stringValue == "context_length_exceeded")
        let (sBad, eBad) = try await call(url, method: "POST", body: #"{"messages": [{"role": "user", "content": "a"}], "top_p": 3}"#, key: "sesame")
        #expect(sBad == 400)
        #expect(try JSONValue.parse(eBad)["error"]?["message"]?.stringValue?.contains("top_p") == true)
    }

    @Test("two concurrent clients are answered, each as if alone")
    func concurrentClients() async throws {
        let (server, base) = try serve([CountingServed()])
        defer { server.shutdown() }
        func ask(_ prompt: String) async throws -> String {
            let (_, text) = try await call(base + "/v1/chat/completions", method: "POST",
                body: #"{"messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 8, "temperature": 0.9, "seed": 3}"#)
            return try JSONValue.parse(text)["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? ""
        }
        let alone = try await [ask("abc"), ask("xyz")]
        async let a = ask("abc")
        async let b = ask("xyz")
        let together = try await [a, b]
        #expect(together == alone)
        #expect(alone[0].count == 8)
    }

    @Test("a full queue answers 429; a client that hangs up frees its slot")
    func queueAndHangUp() async throws {
        let model = CountingServed(context: 1 << 20, maxBatch: 1, maxQueued: 0)
        let (server, base) = try serve([model])
        defer { server.shutdown() }
        // A raw connection starts a long stream, reads its first bytes, and hangs up.
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let body = #"{"messages": [{"role": "user", "content": "a"}], "max_tokens": 1000000, "stream": true, "ignore_eos": true}"#
        let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(recv(fd, &buffer, buffer.count, 0) > 0)
        var admitted = false
        for _ in 0..<200 where !admitted {
            try await Task.sleep(for: .milliseconds(10))
            admitted = model.engine.load.running == 1
        }
        #expect(admitted)
        let (busy, e429) = try await call(base + "/v1/chat/completions", method: "POST",
            body: #"{"messages": [{"role": "user", "content": "b"}], "max_tokens": 2}"#)
        #expect(busy == 429)
        #expect(try JSONValue.parse(e429)["error"]?["type"]?.stringValue == "rate_limit_error")
        close(fd)
        var freed = false
        for _ in 0..<200 where !freed {
            try await Task.sleep(for: .milliseconds(10))
            freed = model.engine.load.running == 0
        }
        #expect(freed)
        let (ok, _) = try await call(base + "/v1/chat/completions", method: "POST",
            body: #"{"messages": [{"role": "user", "content": "b"}], "max_tokens": 2}"#)
        #expect(ok == 200)
    }
}
