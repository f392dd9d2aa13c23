import Foundation
import Testing

@testable import Inference

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite("Sampler")
struct SamplerTests {
    /// transformers' processors applied in `generate`'s order (`tools/make_sampling_fixture.py`).
    @Test("penalties and warpers keep the tokens transformers keeps, with its values")
    func warpersAgainstTransformers() throws {
        let url = repositoryRoot.appendingPathComponent("fixtures/sampling/warpers.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(json["cases"] as? [[String: Any]])
        #expect(cases.count > 50)
        for (n, c) in cases.enumerated() {
            let s = try #require(c["settings"] as? [String: Double])
            let parameters = SamplingParameters(
                temperature: s["temperature"] ?? 1, topP: s["top_p"] ?? 1, topK: Int(s["top_k"] ?? 0),
                minP: s["min_p"] ?? 0, repetitionPenalty: s["repetition_penalty"] ?? 1)
            var logits = try #require(c["logits"] as? [Double]).map(Float.init)
            let previous = try #require(c["previous"] as? [Int]).map(Int32.init)
            let expected = try #require(c["expected"] as? [Any])
            let sampler = Sampler(parameters, prompt: previous)
            logits.withUnsafeMutableBufferPointer { p in
                sampler.applyPenalties(p)
                Sampler.warp(p, parameters)
            }
            for (i, e) in expected.enumerated() {
                if let v = e as? Double {
                    #expect(logits[i].isFinite, "case \(n) \(s): token \(i) kept by transformers")
                    #expect(abs(Double(logits[i]) - v) <= 1e-5 * max(1, abs(v)), "case \(n) token \(i)")
                } else {
                    #expect(logits[i] == -.infinity, "case \(n) \(s): token \(i) removed by transformers")
                }
            }
        }
    }

    @Test("the same seed gives the same draws; the draw follows the distribution")
    func seededDraws() {
        let logits: [Float] = [0, log(3), -Float.infinity, log(6)]
        func draws(_ seed: UInt64) -> [Int32] {
            var sampler = Sampler(SamplingParameters(seed: seed))
            return (0..<3000).map { _ in
                var l = logits
                return sampler.next(logits: &l)
            }
        }
        let a = draws(7)
        #expect(a == draws(7))
        #expect(a != draws(8))
        #expect(!a.contains(2))
        let share = Double(a.filter { $0 == 3 }.count) / Double(a.count)
        #expect(abs(share - 0.6) < 0.04)
    }

    @Test("greedy takes the lowest id among equal maxima; log-probs are the raw log-softmax")
    func greedyAndLogprobs() {
        var sampler = Sampler(.greedy)
        var l: [Float] = [1, 5, 5, 2]
        #expect(sampler.next(logits: &l) == 1)
        let raw: [Float] = [1, 2, 3, 0]
        let lp = raw.withUnsafeBufferPointer { TokenLogprobs(logits: $0, chosen: 1, top: 2) }
        let z = log(raw.map { exp(Double($0)) }.reduce(0, +))
        #expect(abs(Double(lp.logprob) - (2 - z)) < 1e-6)
        #expect(lp.top.map(\.token) == [2, 1])
    }

    @Test("frequency and presence penalties count generated tokens only")
    func openAIPenalties() {
        var sampler = Sampler(SamplingParameters(frequencyPenalty: 0.5, presencePenalty: 0.25), prompt: [0, 0])
        sampler.accept(1)
        sampler.accept(1)
        sampler.accept(2)
        var l: [Float] = [0, 0, 0, 0]
        l.withUnsafeMutableBufferPointer { sampler.applyPenalties($0) }
        #expect(l == [0, -1.25, -0.75, 0])
    }
}
