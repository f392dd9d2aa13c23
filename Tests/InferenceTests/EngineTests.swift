import Foundation
import Synchronization
import Testing

@testable import Inference

/// A stand-in model: the logits favour `(last token + step) mod vocab`, with a spread that depends on the
/// whole history, so sampling has real choices and a wrong cache shows up as other tokens.
final class CountingModel: StepModel, Sendable {
    let vocabularySize: Int
    let contextLength: Int
    let decodeCalls = Mutex<[Int]>([])

    init(vocab: Int = 16, context: Int = 64) {
        vocabularySize = vocab
        contextLength = context
    }

    struct Cache { var history: [Int32] = [] }
    func makeCache() -> Cache { Cache() }

    func logits(_ history: [Int32]) -> [Float] {
        let last = Int(history.last ?? 0)
        let sum = history.reduce(0) { $0 + Int($1) }
        return (0..<vocabularySize).map { t in
            let target = (last + 1) % vocabularySize
            let base: Float = t == target ? 3 : 0
            return base + Float((t * 7 + sum) % 5) * 0.3
        }
    }

    func prefill(_ ids: [Int32], cache: inout Cache) throws -> [Float] {
        cache.history = ids
        return logits(ids)
    }

    func decode(_ tokens: [Int32], caches: inout [Cache]) throws -> [[Float]] {
        decodeCalls.withLock { $0.append(tokens.count) }
        return tokens.indices.map { i in
            caches[i].history.append(tokens[i])
            return logits(caches[i].history)
        }
    }
}

/// Collects one request's events.
final class Collector: Sendable {
    private let events = Mutex<[GenerationEvent]>([])
    private let done = Mutex<Bool>(false)

    var sink: @Sendable (GenerationEvent) -> Void {
        { [self] e in
            events.withLock { $0.append(e) }
            if case .finished = e { done.withLock { $0 = true } }
        }
    }

    func wait() {
        for _ in 0..<5000 where !done.withLock({ $0 }) { usleep(1000) }
    }

    var tokens: [Int32] {
        events.withLock { $0.compactMap { if case .token(let id, _, _) = $0 { id } else { nil } } }
    }

    var text: String {
        events.withLock {
            $0.map { e -> String in
                switch e {
                case .token(_, let t, _): t
                case .text(let t): t
                default: ""
                }
            }.joined()
        }
    }

    var finish: FinishReason? {
        events.withLock { $0.compactMap { if case .finished(let r, _, _, _) = $0 { r } else { nil } }.last }
    }
}

let letters: GenerationEngine<CountingModel>.Detokenize = { ids in
    String(ids.map { Character(Unicode.Scalar(UInt8(97 + Int($0) % 26))) })
}

@Suite("Generation engine")
struct EngineTests {
    func run(_ engine: GenerationEngine<CountingModel>, _ request: GenerationRequest) throws -> Collector {
        let c = Collector()
        try engine.submit(request, sink: c.sink)
        c.wait()
        return c
    }

    @Test("greedy decoding follows the argmax, with the KV history carried between steps")
    func greedy() throws {
        let model = CountingModel()
        let engine = GenerationEngine(model: model, detokenize: letters)
        let c = try run(engine, GenerationRequest(prompt: [3], maxTokens: 5))
        // Reference: recompute the full history each step, argmax.
        var history: [Int32] = [3]
        var expected: [Int32] = []
        for _ in 0..<5 {
            let next = Int32(Sampler.argmax(model.logits(history).withUnsafeBufferPointer { $0 }))
            expected.append(next)
            history.append(next)
        }
        #expect(c.tokens == expected)
        #expect(c.finish == .length)
        #expect(c.text == letters(expected))
    }

    @Test("stop tokens end the sequence and are not part of the text; stop strings are cut off")
    func stops() throws {
        let model = CountingModel()
        let engine = GenerationEngine(model: model, detokenize: letters)
        let a = try run(engine, GenerationRequest(prompt: [3], maxTokens: 10, stopTokens: [6]))
        #expect(a.tokens == [4, 5, 6])
        #expect(a.text == "ef")
        #expect(a.finish == .stop)
        let b = try run(engine, GenerationRequest(prompt: [3], maxTokens: 10, stop: ["gh"]))
        #expect(b.text == "ef")
        #expect(b.finish == .stop)
        // A held-back prefix of a stop string that never completes is released at the end.
        let c = try run(engine, GenerationRequest(prompt: [3], maxTokens: 3, stop: ["gx"]))
        #expect(c.text == "efg")
        #expect(c.finish == .length)
    }

    @Test("a request's sampled tokens do not depend on the batch it was decoded in")
    func batchIndependence() throws {
        let requests = (0..<6).map { i in
            GenerationRequest(prompt: [Int32(i)], sampling: SamplingParameters(temperature: 1.2, topP: 0.9, seed: UInt64(i)), maxTokens: 12)
        }
        let alone = try requests.map { r in try run(GenerationEngine(model: CountingModel(), maxBatch: 1, detokenize: letters), r).tokens }
        let model = CountingModel()
        let engine = GenerationEngine(model: model, maxBatch: 8, detokenize: letters)
        let collectors = requests.map { _ in Collector() }
        for (r, c) in zip(requests, collectors) { try engine.submit(r, sink: c.sink) }
        for c in collectors { c.wait() }
        #expect(collectors.map(\.tokens) == alone)
        #expect(model.decodeCalls.withLock { $0.max() ?? 0 } > 1, "sequences were decoded together")
        #expect(Set(alone).count > 1, "different seeds gave different samples")
    }

    @Test("refusals: an empty prompt, a prompt as long as the context, a full queue")
    func refusals() throws {
        let engine = GenerationEngine(model: CountingModel(context: 8), maxBatch: 1, maxQueued: 0, detokenize: letters)
        #expect(throws: EngineError.emptyPrompt) { try engine.submit(GenerationRequest(prompt: []), sink: { _ in }) }
        #expect(throws: EngineError.promptTooLong(tokens: 8, context: 8)) {
            try engine.submit(GenerationRequest(prompt: Array(repeating: 1, count: 8)), sink: { _ in })
        }
        #expect(throws: EngineError.self) {
            try engine.submit(GenerationRequest(prompt: [1], sampling: SamplingParameters(topP: 0)), sink: { _ in })
        }
    }

    @Test("the context length ends a sequence; cancel frees its slot")
    func lengthAndCancel() throws {
        let engine = GenerationEngine(model: CountingModel(context: 6), detokenize: letters)
        let c = try run(engine, GenerationRequest(prompt: [1, 2], maxTokens: 100))
        #expect(c.tokens.count == 4)
        #expect(c.finish == .length)
        let long = Collector()
        let id = try engine.submit(GenerationRequest(prompt: [1], maxTokens: 1_000_000), sink: long.sink)
        engine.cancel(id)
        long.wait()
        #expect(long.finish == .cancelled || long.finish == .length)
    }
}
