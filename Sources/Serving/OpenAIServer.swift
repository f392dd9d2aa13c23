import Checkpoints
import Foundation
import Inference
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An OpenAI-compatible HTTP server over local models: `GET /v1/models`, `POST /v1/chat/completions`
/// and `POST /v1/completions` (with `stream: true` as server-sent events), `GET /health`.
/// Errors are OpenAI's JSON error shape. Requests beyond the engine's queue are answered 429; a client
/// that hangs up frees its sequence's slot at once; `shutdown` stops accepting and lets in-flight
/// requests finish.
public final class OpenAIServer: Sendable {
    public struct Options: Sendable {
        public var host = "127.0.0.1"
        public var port = 8000
        /// When set, every request must carry `Authorization: Bearer <key>`.
        public var apiKey: String?
        /// Request bodies above this size are refused (413).
        public var maxBodyBytes = 32 << 20
        public init(host: String = "127.0.0.1", port: Int = 8000, apiKey: String? = nil) {
            self.host = host
            self.port = port
            self.apiKey = apiKey
        }
    }

    let models: [any ServedModel]
    let options: Options
    private let group: MultiThreadedEventLoopGroup
    private let channel = Mutex<(any Channel)?>(nil)
    let created = Int(Date().timeIntervalSince1970)

    public init(models: [any ServedModel], options: Options) {
        self.models = models
        self.options = options
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds and starts serving; returns the port (useful with port 0).
    public func start() throws -> Int {
        let server = self
        let bound = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(ConnectionHandler(server: server))
                }
            }
            .bind(host: options.host, port: options.port).wait()
        channel.withLock { $0 = bound }
        return bound.localAddress?.port ?? options.port
    }

    /// Blocks until the listening socket is closed by `shutdown`.
    public func wait() throws {
        if let c = channel.withLock({ $0 }) { try c.closeFuture.wait() }
    }

    /// Stops accepting connections; in-flight requests finish (the caller shuts the engines down).
    public func shutdown() {
        if let c = channel.withLock({ $0 }) { try? c.close().wait() }
    }

    func model(named name: String?) throws(APIError) -> any ServedModel {
        if let name {
            if let m = models.first(where: { $0.name == name }) { return m }
            throw APIError(404, "invalid_request_error", "The model '\(name)' does not exist; this server has: "
                + models.map(\.name).joined(separator: ", "), param: "model", code: "model_not_found")
        }
        if models.count == 1, let m = models.first { return m }
        throw APIError.invalid("'model' is required: this server has " + models.map(\.name).joined(separator: ", "), param: "model")
    }

    var modelList: String {
        JSONValue.object([
            ("object", .string("list")),
            ("data", .array(models.map { m in
                .object([("id", .string(m.name)), ("object", .string("model")), ("created", .int(created)),
                         ("owned_by", .string("mixmerge")), ("max_model_len", .int(m.contextLength))])
            })),
        ]).serialized(indent: nil)
    }
}

/// One HTTP connection. All its state is touched on its event loop only; engine events hop there.
final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: OpenAIServer
    var head: HTTPRequestHead?
    var body = ByteBuffer()
    var tooLarge = false
    /// The request being generated on this connection (cancelled if the client goes away).
    var active: (model: any ServedModel, id: UInt64)?
    var context: ChannelHandlerContext?

    init(server: OpenAIServer) { self.server = server }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelInactive(context: ChannelHandlerContext) {
        if let a = active { a.model.cancel(a.id) }
        active = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            tooLarge = false
        case .body(var b):
            if body.readableBytes + b.readableBytes > server.options.maxBodyBytes { tooLarge = true } else { body.writeBuffer(&b) }
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                send(APIError(413, "invalid_request_error", "the request body exceeds \(server.options.maxBodyBytes) bytes"), keepAlive: false)
                return
            }
            do {
                try route(head, String(buffer: body))
            } catch {
                send(error, keepAlive: head.isKeepAlive)
            }
        }
    }

    func route(_ head: HTTPRequestHead, _ text: String) throws(APIError) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        if head.method == .GET && (path == "/health" || path == "/v1/health") {
            sendJSON(200, "{\"status\":\"ok\"}", keepAlive: head.isKeepAlive)
            return
        }
        if let key = server.options.apiKey {
            let given = head.headers.first(name: "Authorization") ?? ""
            guard given == "Bearer \(key)" else {
                throw APIError(401, "invalid_request_error", "Incorrect or missing API key (Authorization: Bearer …)", code: "invalid_api_key")
            }
        }
        switch (head.method, path) {
        case (.GET, "/v1/models"):
            sendJSON(200, server.modelList, keepAlive: head.isKeepAlive)
        case (.POST, "/v1/chat/completions"):
            try complete(head, text, chat: true)
        case (.POST, "/v1/completions"):
            try complete(head, text, chat: false)
        case (_, "/v1/models"), (_, "/v1/chat/completions"), (_, "/v1/completions"):
            throw APIError(405, "invalid_request_error", "\(head.method) is not allowed on \(path)")
        default:
            throw APIError(404, "invalid_request_error", "Unknown path \(path)")
        }
    }

    func complete(_ head: HTTPRequestHead, _ text: String, chat: Bool) throws(APIError) {
        guard active == nil else { throw APIError(429, "rate_limit_error", "one request at a time per connection") }
        let body: JSONValue
        do { body = try JSONValue.parse(text) } catch { throw .invalid("the request body is not valid JSON: \(error)") }
        guard case .object = body else { throw .invalid("the request body must be a JSON object") }
        let model = try server.model(named: body["model"]?.stringValue)
        let prompt: [Int32]
        do {
            if chat {
                guard let messages = body["messages"], case .array(let list) = messages, !list.isEmpty else {
                    throw APIError.invalid("'messages' must be a non-empty list", param: "messages")
                }
                let tools = body["tools"].flatMap { $0 == .null ? nil : $0 }
                let addGenerationPrompt = body["add_generation_prompt"]?.boolValue ?? true
                prompt = try model.chatPrompt(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt)
            } else {
                switch body["prompt"] {
                case .string(let s)?: prompt = try model.textPrompt(s)
                case .array(let a)? where a.count == 1 && a[0].stringValue != nil: prompt = try model.textPrompt(a[0].stringValue ?? "")
                case .array(let a)? where !a.isEmpty && a.allSatisfy({ $0.intValue != nil }):
                    prompt = a.compactMap { $0.intValue.map(Int32.init) }
                default: throw APIError.invalid("'prompt' must be a string (or a list of token ids)", param: "prompt")
                }
            }
        } catch let e as APIError {
            throw e
        } catch {
            throw .invalid("\(error)", param: chat ? "messages" : "prompt")
        }
        let settings = try CompletionSettings(body, prompt: prompt, stopTokens: model.stopTokens, chat: chat)
        let stream = Stream(handler: self, model: model, chat: chat, settings: settings, keepAlive: head.isKeepAlive)
        do {
            let id = try model.submit(settings.request, sink: stream.receive)
            active = (model, id)
        } catch {
            throw APIError.from(error)
        }
        if settings.stream { stream.startStreaming() }
    }

    // MARK: - Writing

    func send(_ error: any Error, keepAlive: Bool) {
        let e = (error as? APIError) ?? APIError(500, "server_error", "\(error)")
        sendJSON(e.status, e.json, keepAlive: keepAlive)
    }

    func sendJSON(_ status: Int, _ text: String, keepAlive: Bool) {
        guard let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }

    func startEventStream() {
        guard let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
    }

    func writeEvent(_ json: String) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: \(json)\n\n")))), promise: nil)
    }

    func endEventStream(keepAlive: Bool) {
        guard let context else { return }
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "data: [DONE]\n\n")))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}

/// One completion in flight: collects engine events (on the engine's thread) and writes them on the
/// connection's event loop, as a whole response or as server-sent events.
final class Stream: @unchecked Sendable {
    let handler: ConnectionHandler
    let loop: any EventLoop
    let model: any ServedModel
    let chat: Bool
    let settings: CompletionSettings
    let keepAlive: Bool
    let id: String
    let created = Int(Date().timeIntervalSince1970)
    // Touched on the event loop only.
    var text = ""
    var logprobs: [TokenLogprobs] = []
    var sentRole = false

    init(handler: ConnectionHandler, model: any ServedModel, chat: Bool, settings: CompletionSettings, keepAlive: Bool) {
        self.handler = handler
        self.loop = handler.context?.eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        self.model = model
        self.chat = chat
        self.settings = settings
        self.keepAlive = keepAlive
        self.id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
    }

    var receive: @Sendable (GenerationEvent) -> Void {
        { [self] event in loop.execute { self.handle(event) } }
    }

    func startStreaming() { handler.startEventStream() }

    private func handle(_ event: GenerationEvent) {
        switch event {
        case .token(let token, let delta, let lp):
            if let lp { logprobs.append(lp) }
            text += delta
            if settings.stream, !delta.isEmpty || lp != nil { handler.writeEvent(chunk(delta: delta, logprobs: lp.map { [$0] }, finish: nil)) }
        case .text(let delta):
            text += delta
            if settings.stream, !delta.isEmpty { handler.writeEvent(chunk(delta: delta, logprobs: nil, finish: nil)) }
        case .finished(let reason, let promptTokens, let completionTokens, let error):
            handler.active = nil
            let finish = reason == .cancelled ? "abort" : reason.rawValue
            if reason == .error {
                if settings.stream {
                    handler.writeEvent(APIError(500, "server_error", error ?? "generation failed").json)
                    handler.endEventStream(keepAlive: keepAlive)
                } else {
                    handler.send(APIError(500, "server_error", error ?? "generation failed"), keepAlive: keepAlive)
                }
                return
            }
            let usage = OpenAIResponse.usage(prompt: promptTokens, completion: completionTokens)
            if settings.stream {
                handler.writeEvent(chunk(delta: "", logprobs: nil, finish: finish))
                if settings.includeUsage {
                    handler.writeEvent(JSONValue.object(header("chat.completion.chunk", "text_completion") + [
                        ("choices", .array([])), ("usage", usage),
                    ]).serialized(indent: nil))
                }
                handler.endEventStream(keepAlive: keepAlive)
            } else {
                handler.sendJSON(200, whole(finish: finish, usage: usage), keepAlive: keepAlive)
            }
        }
    }

    private func header(_ chatObject: String, _ textObject: String) -> [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(chat ? chatObject : textObject)), ("created", .int(created)),
         ("model", .string(model.name))]
    }

    private func logprobsJSON(_ items: [TokenLogprobs]) -> JSONValue {
        chat ? OpenAIResponse.chatLogprobs(items, model.tokenText) : OpenAIResponse.textLogprobs(items, model.tokenText)
    }

    private func chunk(delta: String, logprobs: [TokenLogprobs]?, finish: String?) -> String {
        var choice: [(String, JSONValue)] = [("index", .int(0))]
        if chat {
            var d: [(String, JSONValue)] = []
            if !sentRole {
                d.append(("role", .string("assistant")))
                sentRole = true
            }
            if !delta.isEmpty || finish == nil { d.append(("content", .string(delta))) }
            choice.append(("delta", .object(d)))
        } else {
            choice.append(("text", .string(delta)))
        }
        choice.append(("logprobs", logprobs.map(logprobsJSON) ?? .null))
        choice.append(("finish_reason", finish.map { .string($0) } ?? .null))
        return JSONValue.object(header("chat.completion.chunk", "text_completion") + [("choices", .array([.object(choice)]))])
            .serialized(indent: nil)
    }

    private func whole(finish: String, usage: JSONValue) -> String {
        var choice: [(String, JSONValue)] = [("index", .int(0))]
        if chat {
            choice.append(("message", .object([("role", .string("assistant")), ("content", .string(text))])))
        } else {
            choice.append(("text", .string(text)))
        }
        choice.append(("logprobs", settings.request.logprobs == nil ? .null : logprobsJSON(logprobs)))
        choice.append(("finish_reason", .string(finish)))
        return JSONValue.object(header("chat.completion", "text_completion") + [("choices", .array([.object(choice)])), ("usage", usage)])
            .serialized(indent: nil)
    }
}
