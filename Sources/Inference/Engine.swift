import Foundation
import Synchronization

/// What the engine needs of a model: prefill one sequence, and decode one token for each of several
/// sequences in one step (the weights are read once for the whole batch).
public protocol StepModel: AnyObject, Sendable {
    associatedtype Cache
    /// Logits per step (the vocabulary size the model computes).
    var vocabularySize: Int { get }
    /// The longest sequence (prompt + generated tokens) the model can attend over.
    var contextLength: Int { get }
    func makeCache() -> Cache
    /// Runs the prompt through the model, filling `cache`; returns the logits of the last position.
    func prefill(_ ids: [Int32], cache: inout Cache) throws -> [Float]
    /// Appends `tokens[i]` to sequence `i` (with `caches[i]`); returns each sequence's next logits.
    func decode(_ tokens: [Int32], caches: inout [Cache]) throws -> [[Float]]
}

/// One generation request.
public struct GenerationRequest: Sendable {
    public var prompt: [Int32]
    public var sampling: SamplingParameters
    /// New tokens at most (the context length also stops a sequence).
    public var maxTokens: Int
    /// Generation ends when the text contains one of these; the stop string is not part of the output.
    public var stop: [String]
    /// Generation ends after one of these tokens (EOS ids from `generation_config.json`); the token is
    /// not part of the output text.
    public var stopTokens: Set<Int32>
    /// Log-probabilities of the chosen tokens and this many alternatives (nil = none).
    public var logprobs: Int?

    public init(prompt: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int = 256, stop: [String] = [],
                stopTokens: Set<Int32> = [], logprobs: Int? = nil) {
        self.prompt = prompt
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stop = stop
        self.stopTokens = stopTokens
        self.logprobs = logprobs
    }
}

/// Why a sequence ended, in OpenAI's words.
public enum FinishReason: String, Sendable {
    case stop, length, cancelled, error
}

/// What the engine reports about a request, in order: tokens as they are chosen, then one `finished`.
public enum GenerationEvent: Sendable {
    /// A new token, the text it completes (possibly empty while a character or a stop string is
    /// incomplete) and its log-probabilities when asked for.
    case token(id: Int32, text: String, logprobs: TokenLogprobs?)
    /// Text held back at the end of a sequence (an incomplete stop string that never completed).
    case text(String)
    case finished(reason: FinishReason, promptTokens: Int, completionTokens: Int, error: String?)
}

/// A request the engine refused.
public enum EngineError: Error, Sendable, CustomStringConvertible, Equatable {
    case queueFull(Int)
    case promptTooLong(tokens: Int, context: Int)
    case emptyPrompt
    case stopped
    case invalid(String)

    public var description: String {
        switch self {
        case .queueFull(let n): "the server is busy: \(n) requests are already waiting"
        case .promptTooLong(let tokens, let context):
            "the prompt has \(tokens) tokens; this model's context length is \(context), which must also hold the answer"
        case .emptyPrompt: "the prompt is empty"
        case .stopped: "the engine is shutting down"
        case .invalid(let m): m
        }
    }
}

/// Continuous batching: one worker thread admits waiting requests between steps, prefills each, and
/// decodes every running sequence together, one token per sequence per step. A finished or cancelled
/// sequence frees its slot before the next step. Each request samples from its own random stream, so
/// its tokens do not depend on what else is in the batch.
public final class GenerationEngine<Model: StepModel>: Sendable {
    public typealias Detokenize = @Sendable ([Int32]) -> String

    private struct Pending {
        var id: UInt64
        var request: GenerationRequest
        var sink: @Sendable (GenerationEvent) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 1
        var stopping = false
        var running = 0
        var cancelAll = false
    }

    private let model: Model
    private let detokenize: Detokenize
    /// Sequences decoded together at most.
    public let maxBatch: Int
    /// Requests allowed to wait for a slot; more are refused (`EngineError.queueFull`).
    public let maxQueued: Int
    private let state = Mutex(State())
    private let wake = Condition()

    public init(model: Model, maxBatch: Int = 8, maxQueued: Int = 64, detokenize: @escaping Detokenize) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.maxQueued = max(0, maxQueued)
        self.detokenize = detokenize
        let thread = Thread { [self] in self.loop() }
        thread.name = "mixmerge-engine"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues a request; `sink` receives its events on the engine's thread (keep it quick).
    /// - Returns: an identifier for `cancel`.
    @discardableResult
    public func submit(_ request: GenerationRequest, sink: @escaping @Sendable (GenerationEvent) -> Void)
        throws(EngineError) -> UInt64
    {
        guard !request.prompt.isEmpty else { throw .emptyPrompt }
        if request.prompt.count >= model.contextLength {
            throw .promptTooLong(tokens: request.prompt.count, context: model.contextLength)
        }
        if let problem = request.sampling.problem { throw .invalid(problem) }
        let result: Result<UInt64, EngineError> = state.withLock { s in
            if s.stopping { return .failure(.stopped) }
            if s.pending.count >= maxQueued + max(0, maxBatch - s.running) { return .failure(.queueFull(s.pending.count)) }
            let id = s.nextID
            s.nextID += 1
            s.pending.append(Pending(id: id, request: request, sink: sink))
            return .success(id)
        }
        wake.signal()
        return try result.get()
    }

    /// Stops a request at the next step (its sink gets `finished(.cancelled)`).
    public func cancel(_ id: UInt64) {
        state.withLock { _ = $0.cancelled.insert(id) }
        wake.signal()
    }

    /// Refuses new requests and cancels the waiting ones; running sequences finish (or are cancelled
    /// when `cancelRunning`). Returns when the worker is idle.
    public func shutdown(cancelRunning: Bool = false) {
        let waiting: [Pending] = state.withLock { s in
            s.stopping = true
            let w = s.pending
            s.pending = []
            return w
        }
        for p in waiting { p.sink(.finished(reason: .cancelled, promptTokens: p.request.prompt.count, completionTokens: 0, error: nil)) }
        if cancelRunning { state.withLock { $0.cancelAll = true } }
        wake.signal()
        while state.withLock({ $0.running > 0 }) { usleep(2000) }
    }

    /// The model's context length (prompt + answer).
    public var contextLength: Int { model.contextLength }

    /// Requests waiting for a slot and sequences running.
    public var load: (waiting: Int, running: Int) { state.withLock { ($0.pending.count, $0.running) } }

    // MARK: - The worker

    private final class Running {
        let id: UInt64
        let request: GenerationRequest
        let sink: @Sendable (GenerationEvent) -> Void
        var sampler: Sampler
        var generated: [Int32] = []
        var emittedText = ""
        var lastToken: Int32 = 0
        init(_ p: Pending) {
            id = p.id
            request = p.request
            sink = p.sink
            sampler = Sampler(p.request.sampling, prompt: p.request.prompt)
        }
    }

    private func loop() {
        // Running sequences and their caches, index-aligned (the caches are passed to the model in
        // place: no copy of a KV cache per step).
        var active: [Running] = []
        var caches: [Model.Cache] = []
        func keep(_ still: [Bool]) {
            var a: [Running] = []
            var c: [Model.Cache] = []
            for i in active.indices where still[i] {
                a.append(active[i])
                c.append(caches[i])
            }
            active = a
            caches = c
        }
        while true {
            // Admit waiting requests into free slots.
            let (admitted, cancelled, stopping): ([Pending], Set<UInt64>, Bool) = state.withLock { s in
                let free = maxBatch - active.count
                let take = min(free, s.pending.count)
                let a = Array(s.pending.prefix(take))
                s.pending.removeFirst(take)
                s.running = active.count + a.count
                var c = s.cancelled
                if s.cancelAll { c.formUnion(active.map(\.id)) }
                s.cancelled = []
                return (a, c, s.stopping)
            }
            if !cancelled.isEmpty {
                keep(active.map { seq in
                    guard cancelled.contains(seq.id) else { return true }
                    finish(seq, .cancelled)
                    return false
                })
            }
            for p in admitted {
                if cancelled.contains(p.id) {
                    p.sink(.finished(reason: .cancelled, promptTokens: p.request.prompt.count, completionTokens: 0, error: nil))
                    continue
                }
                let seq = Running(p)
                var cache = model.makeCache()
                do {
                    var logits = try model.prefill(p.request.prompt, cache: &cache)
                    if choose(seq, &logits) {
                        active.append(seq)
                        caches.append(cache)
                    }
                } catch {
                    finish(seq, .error, error: "\(error)")
                }
            }
            state.withLock { $0.running = active.count }
            if active.isEmpty {
                if stopping && state.withLock({ $0.pending.isEmpty }) { return }
                wake.wait(timeoutMilliseconds: stopping ? 10 : 500)
                continue
            }
            // One decode step for every running sequence.
            do {
                let rows = try model.decode(active.map(\.lastToken), caches: &caches)
                keep(active.indices.map { i in
                    var logits = rows[i]
                    return choose(active[i], &logits)
                })
            } catch {
                for seq in active { finish(seq, .error, error: "\(error)") }
                active = []
                caches = []
            }
            state.withLock { $0.running = active.count }
        }
    }

    /// Samples the next token of `seq` from `logits`, reports it, and says whether the sequence goes on.
    private func choose(_ seq: Running, _ logits: inout [Float]) -> Bool {
        let raw = seq.request.logprobs != nil ? logits : []
        let token = seq.sampler.next(logits: &logits)
        seq.sampler.accept(token)
        let lp = seq.request.logprobs.map { count in
            raw.withUnsafeBufferPointer { TokenLogprobs(logits: $0, chosen: token, top: count) }
        }
        if seq.request.stopTokens.contains(token) {
            seq.generated.append(token)
            flush(seq)
            seq.sink(.token(id: token, text: "", logprobs: lp))
            finish(seq, .stop)
            return false
        }
        seq.generated.append(token)
        seq.lastToken = token
        // The text so far, without a trailing incomplete character; held back: a possible stop string's start.
        var text = detokenize(seq.generated)
        if text.hasSuffix("\u{FFFD}") { text.removeLast() }
        if let cut = Self.firstStop(in: text, seq.request.stop) {
            let visible = String(text[..<cut])
            emit(seq, token: token, upTo: visible, logprobs: lp)
            finish(seq, .stop)
            return false
        }
        let hold = Self.heldBack(text, seq.request.stop)
        emit(seq, token: token, upTo: String(text.dropLast(hold)), logprobs: lp)
        let total = seq.request.prompt.count + seq.generated.count
        if seq.generated.count >= seq.request.maxTokens || total >= model.contextLength {
            flush(seq)
            finish(seq, .length)
            return false
        }
        return true
    }

    private func emit(_ seq: Running, token: Int32, upTo visible: String, logprobs: TokenLogprobs?) {
        var delta = ""
        if visible.hasPrefix(seq.emittedText) {
            delta = String(visible.dropFirst(seq.emittedText.count))
            seq.emittedText = visible
        }
        seq.sink(.token(id: token, text: delta, logprobs: logprobs))
    }

    /// Emits text held back for a stop string that did not come (at the end of a sequence).
    private func flush(_ seq: Running) {
        let tokens = seq.request.stopTokens.contains(seq.generated.last ?? -1) ? Array(seq.generated.dropLast()) : seq.generated
        let text = detokenize(tokens)
        if text.count > seq.emittedText.count, text.hasPrefix(seq.emittedText) {
            let rest = String(text.dropFirst(seq.emittedText.count))
            seq.emittedText = text
            seq.sink(.text(rest))
        }
    }

    private func finish(_ seq: Running, _ reason: FinishReason, error: String? = nil) {
        seq.sink(.finished(reason: reason, promptTokens: seq.request.prompt.count, completionTokens: seq.generated.count, error: error))
    }

    /// Where the earliest stop string starts in `text`.
    static func firstStop(in text: String, _ stops: [String]) -> String.Index? {
        var best: String.Index?
        for s in stops where !s.isEmpty {
            if let r = text.range(of: s), best.map({ r.lowerBound < $0 }) ?? true { best = r.lowerBound }
        }
        return best
    }

    /// How many characters at the end of `text` could be the start of a stop string.
    static func heldBack(_ text: String, _ stops: [String]) -> Int {
        var hold = 0
        for s in stops where !s.isEmpty {
            var n = min(s.count - 1, text.count)
            while n > hold {
                if text.hasSuffix(s.prefix(n)) {
                    hold = n
                    break
                }
                n -= 1
            }
        }
        return hold
    }
}

/// A condition variable for the engine's worker (signal may come from any thread).
final class Condition: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var signalled = false

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        signalled = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
    }

    func wait(timeoutMilliseconds ms: Int) {
        pthread_mutex_lock(&mutex)
        if !signalled {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            var deadline = now
            let ns = Int(now.tv_nsec) + (ms % 1000) * 1_000_000
            deadline.tv_sec = now.tv_sec + ms / 1000 + ns / 1_000_000_000
            deadline.tv_nsec = ns % 1_000_000_000
            pthread_cond_timedwait(&cond, &mutex, &deadline)
        }
        signalled = false
        pthread_mutex_unlock(&mutex)
    }
}
