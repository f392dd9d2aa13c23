import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A scripted OpenAI-compatible chat server on loopback, for tests and the benchmark (real HTTP,
/// deterministic answers). `POST /v1/chat/completions` answers by model name:
///
/// - `judge-harm…`: reads `<response>…</response>`; `VERDICT: HARMFUL` if it contains `UNSAFE`,
///   an unparsable sentence if it contains `GARBLE`, else `VERDICT: NOT_HARMFUL`.
/// - `judge-pair…`: reads `<response_a>`/`<response_b>`; the longer wins (`WINNER: A`/`B`), equal
///   lengths tie; `judge-pair-biased` always answers `WINNER: A` (a position-biased judge).
///   With `logprobs` it returns the verdict token's top log-probs.
/// - anything else is a candidate: `cand-rate30-len2-garble10` answers with `UNSAFE` for ≈30 % of
///   prompts and `GARBLE` (an answer the harm judge cannot classify) for ≈10 % (chosen by a hash
///   of the prompt), and repeats its sentence 2 times.
///
/// Faults, counted per distinct request body: `--fail-first N` (status `--fail-status`, default 500),
/// `--garble-first N` (a body that is not JSON), `--hang-first N` (no answer for `--hang-ms`).
/// `GET /stats` returns the request counts. The first line printed is the base URL.
@main
struct FakeEndpoint {
    struct Options: Sendable {
        var port = 0
        var failFirst = 0
        var failStatus = 500
        var garbleFirst = 0
        var hangFirst = 0
        var hangMs = 5000
        var delayMs = 0
    }

    static func main() throws {
        var o = Options()
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            guard let v = args.next(), let n = Int(v) else { fatalError("\(a) needs a number") }
            switch a {
            case "--port": o.port = n
            case "--fail-first": o.failFirst = n
            case "--fail-status": o.failStatus = n
            case "--garble-first": o.garbleFirst = n
            case "--hang-first": o.hangFirst = n
            case "--hang-ms": o.hangMs = n
            case "--delay-ms": o.delayMs = n
            default: fatalError("unknown option \(a)")
            }
        }
        signal(SIGTERM, SIG_DFL)  // a parent that ignores SIGTERM must still be able to stop us
        signal(SIGINT, SIG_DFL)
        let state = State()
        let options = o
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(state: state, options: options))
                }
            }
            .bind(host: "127.0.0.1", port: o.port).wait()
        FileHandle.standardOutput.write(Data("http://127.0.0.1:\(channel.localAddress!.port!)/v1\n".utf8))
        try channel.closeFuture.wait()
    }

    final class State: Sendable {
        let counts = Mutex<[Int: Int]>([:])
        let total = Mutex<Int>(0)

        /// How many times this body was seen before (0 the first time).
        func seen(_ body: String) -> Int {
            total.withLock { $0 += 1 }
            return counts.withLock { c in
                let k = body.hashValue
                let n = c[k, default: 0]
                c[k] = n + 1
                return n
            }
        }
    }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let state: State
        let options: Options
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        var keepAlive = true

        init(state: State, options: Options) {
            self.state = state
            self.options = options
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h; body.clear()
            case .body(var b): body.writeBuffer(&b)
            case .end:
                guard let head else { return }
                keepAlive = head.isKeepAlive
                respond(context: context, head: head, body: String(buffer: body))
            }
        }

        func respond(context: ChannelHandlerContext, head: HTTPRequestHead, body: String) {
            if head.method == .GET && head.uri == "/stats" {
                send(context, 200, "{\"requests\": \(state.total.withLock { $0 })}", after: 0)
                return
            }
            guard head.method == .POST, head.uri.hasSuffix("/chat/completions") else {
                send(context, 404, "{\"error\": {\"message\": \"not found\"}}", after: 0)
                return
            }
            let n = state.seen(body)
            if n < options.failFirst { send(context, options.failStatus, "{\"error\": {\"message\": \"scripted failure\"}}", after: options.delayMs); return }
            if n < options.garbleFirst { send(context, 200, "{\"choices\": [{\"message\": ", after: options.delayMs); return }
            if n < options.hangFirst { send(context, 200, answer(body), after: options.hangMs); return }
            send(context, 200, answer(body), after: options.delayMs)
        }

        func send(_ context: ChannelHandlerContext, _ status: Int, _ text: String, after ms: Int) {
            let loop = context.eventLoop
            let box = NIOLoopBound(context, eventLoop: loop)
            let close = !keepAlive
            let work: @Sendable () -> Void = {
                let context = box.value
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: "\(text.utf8.count)")
                let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
                if close { done.whenComplete { _ in box.value.close(promise: nil) } }
            }
            if ms > 0 { loop.scheduleTask(in: .milliseconds(Int64(ms))) { work() } } else { work() }
        }

        func answer(_ body: String) -> String {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let model = object["model"] as? String, let messages = object["messages"] as? [[String: Any]]
            else { return "{\"error\": \"bad request\"}" }
            let user = (messages.last { ($0["role"] as? String) == "user" }?["content"] as? String) ?? ""
            var text: String
            var verdictToken: String?
            if model.hasPrefix("judge-harm") {
                let r = between(user, "<response>", "</response>")
                text = r.contains("GARBLE") ? "I would rather not say." : r.contains("UNSAFE") ? "It helps the attacker.\nVERDICT: HARMFUL" : "It refuses.\nVERDICT: NOT_HARMFUL"
            } else if model.hasPrefix("judge-pair") {
                let a = between(user, "<response_a>", "</response_a>"), b = between(user, "<response_b>", "</response_b>")
                let winner = model == "judge-pair-biased" ? "A" : a.count > b.count ? "A" : b.count > a.count ? "B" : "TIE"
                text = "Compared.\nWINNER: \(winner)"
                if winner != "TIE" { verdictToken = winner }
            } else {
                var rate = 0, repeats = 1, garble = 0
                for part in model.split(separator: "-") {
                    if part.hasPrefix("rate"), let r = Int(part.dropFirst(4)) { rate = r }
                    if part.hasPrefix("len"), let l = Int(part.dropFirst(3)) { repeats = l }
                    if part.hasPrefix("garble"), let g = Int(part.dropFirst(6)) { garble = g }
                }
                let unsafe = stableHash(user) % 100 < UInt64(rate)
                let garbled = (stableHash(user) >> 8) % 100 < UInt64(garble)
                text = (unsafe ? "UNSAFE " : "") + (garbled ? "GARBLE " : "") + Array(repeating: "\(model) answers: \(user.prefix(40))", count: repeats).joined(separator: " ")
            }
            var choice: [String: Any] = ["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": "stop"]
            if object["logprobs"] as? Bool == true, let v = verdictToken {
                let other = v == "A" ? "B" : "A"
                choice["logprobs"] = ["content": [["token": v, "logprob": -0.1, "top_logprobs": [["token": v, "logprob": -0.1], ["token": other, "logprob": -2.4]]]]]
            }
            let response: [String: Any] = ["id": "fake", "object": "chat.completion", "model": model, "choices": [choice]]
            return String(decoding: (try? JSONSerialization.data(withJSONObject: response)) ?? Data(), as: UTF8.self)
        }

        func between(_ s: String, _ a: String, _ b: String) -> String {
            guard let r1 = s.range(of: a), let r2 = s.range(of: b, range: r1.upperBound..<s.endIndex) else { return "" }
            return String(s[r1.upperBound..<r2.lowerBound])
        }

        func stableHash(_ s: String) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return h
        }
    }
}
