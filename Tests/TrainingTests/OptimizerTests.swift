import Foundation
import Testing

@testable import Training

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let fixtures = repositoryRoot.appendingPathComponent("fixtures")

func json(_ path: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent(path))) as? [String: Any])
}

func floats(_ any: Any?) -> [Float] { (any as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }

/// Float32 values of a little-endian C-order .npy file.
func npy(_ path: String) throws -> [Float] {
    let data = try Data(contentsOf: fixtures.appendingPathComponent(path))
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    return data[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

/// The fixtures' tensor tolerance: max|a − b| ≤ 1e-5·max|b| + 1e-7.
func close(_ a: [Float], _ b: [Float]) -> Bool {
    guard a.count == b.count else { return false }
    let scale = b.map(abs).max() ?? 0
    return zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale + 1e-7 }
}

@Suite("Optimizer pieces against torch and transformers")
struct OptimizerTests {
    @Test("learning-rate schedules equal transformers' get_*_schedule_with_warmup")
    func schedules() throws {
        let cases = try #require(try json("optim/optim.json")["schedules"] as? [[String: Any]])
        #expect(cases.count == 12)
        for c in cases {
            let kind = try #require(LearningRateSchedule.Kind(rawValue: c["kind"] as? String ?? ""))
            let warmup = c["warmup"] as? Int ?? 0, total = c["total"] as? Int ?? 0
            let schedule = LearningRateSchedule(kind, peak: c["peak"] as? Double ?? 0, warmupSteps: warmup, totalSteps: total)
            for (s, lr) in (c["lrs"] as? [Double] ?? []).enumerated() {
                #expect(abs(schedule.learningRate(afterSchedulerSteps: s) - lr) <= 1e-12 * max(1, abs(lr)), "\(kind) w\(warmup) t\(total) s\(s)")
            }
        }
        #expect(LearningRateSchedule.warmupSteps(ratio: 0.1, totalSteps: 25) == 3)
    }

    @Test("AdamW steps equal torch.optim.AdamW, with a group that takes no weight decay")
    func adamw() throws {
        let runs = try #require(try json("optim/optim.json")["adamw"] as? [[String: Any]])
        for run in runs {
            var parameters = (run["initial"] as? [Any] ?? []).map(floats)
            var optimizer = AdamW(weightDecay: run["weight_decay"] as? Double ?? 0)
            let decays = run["decays"] as? [Bool]
            for step in run["steps"] as? [[String: Any]] ?? [] {
                let grads = (step["grads"] as? [Any] ?? []).map(floats)
                optimizer.update(&parameters, gradients: grads, lr: step["lr"] as? Double ?? 0, decays: decays)
                let expected = (step["params"] as? [Any] ?? []).map(floats)
                for (p, e) in zip(parameters, expected) { #expect(close(p, e)) }
            }
            #expect(optimizer.step == 4)
        }
    }

    @Test("gradient clipping equals clip_grad_norm_ (norm and clipped values)")
    func clipping() throws {
        for c in try #require(try json("optim/optim.json")["clipping"] as? [[String: Any]]) {
            var grads = (c["grads"] as? [Any] ?? []).map(floats)
            let norm = GradientClipping.clip(&grads, maxNorm: c["max_norm"] as? Double ?? 1)
            let expectedNorm = c["norm"] as? Double ?? 0
            #expect(abs(norm - expectedNorm) <= 1e-5 * expectedNorm)
            for (g, e) in zip(grads, (c["clipped"] as? [Any] ?? []).map(floats)) { #expect(close(g, e)) }
        }
    }
}

@Suite("Losses against the PyTorch training fixtures")
struct LossTests {
    static let families = ["llama", "qwen2", "mistral", "cohere", "cohere2", "gemma2"]

    @Test("causal-LM loss and per-token log-probs from the fixture's logits", arguments: families)
    func sft(_ family: String) throws {
        let c = try json("training/\(family)-sft/case.json")
        let inputs = try #require(c["inputs"] as? [String: Any])
        let labels = try #require(inputs["labels"] as? [[Int]])
        let logits = try npy("training/\(family)-sft/logits.npy")
        let rows = labels.count, length = labels[0].count
        let vocab = logits.count / (rows * length)
        let perRow = (0..<rows).map { Array(logits[($0 * length * vocab)..<(($0 + 1) * length * vocab)]) }
        let result = CausalLMLoss.compute(logits: perRow, labels: labels, vocab: vocab, gradients: true)
        let expected = try #require(c["loss"] as? Double)
        #expect(abs(result.loss - expected) <= 1e-5 * expected)
        #expect(result.labelTokens == c["num_label_tokens"] as? Int)
        let lp = try npy("training/\(family)-sft/label_logprobs.npy")
        #expect(close(result.tokenLogprobs.flatMap { $0 }, lp))
        // The gradient of the mean: each counted position's row sums to 0 and its label's entry is negative.
        let g = try #require(result.logitGradients)
        let sum = g[0][0..<vocab].reduce(0, +)
        #expect(abs(sum) < 1e-6)
    }

    @Test("DPO: summed log-probs, sigmoid / smoothed / robust losses, rewards and accuracy", arguments: families)
    func dpo(_ family: String) throws {
        let c = try json("training/\(family)-dpo/case.json")
        let inputs = try #require(c["inputs"] as? [String: Any])
        let mask = try #require(inputs["completion_mask"] as? [[Int]])
        let rows = mask.count, length = mask[0].count
        func sums(_ file: String) throws -> [Double] {
            let lp = try npy("training/\(family)-dpo/\(file)")
            let width = lp.count / rows
            return (0..<rows).map { r in
                (0..<width).reduce(0.0) { acc, t in t + 1 < length && mask[r][t + 1] == 1 ? acc + Double(lp[r * width + t]) : acc }
            }
        }
        let policy = try sums("policy_token_logprobs.npy"), reference = try sums("reference_token_logprobs.npy")
        let pairs = rows / 2
        let pc = Array(policy[..<pairs]), pr = Array(policy[pairs...]), rc = Array(reference[..<pairs]), rrj = Array(reference[pairs...])
        func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * abs(b) + 1e-6 }
        for (a, b) in zip(pc, c["policy_chosen_logps"] as? [Double] ?? []) { #expect(near(a, b)) }
        for (a, b) in zip(rrj, c["reference_rejected_logps"] as? [Double] ?? []) { #expect(near(a, b)) }
        let beta = try #require(c["beta"] as? Double), eps = try #require(c["label_smoothing_variant"] as? Double)
        let plain = DPOLoss.compute(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rrj, beta: beta)
        #expect(near(plain.loss, c["loss"] as? Double ?? .nan))
        let smooth = DPOLoss.compute(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rrj,
                                     beta: beta, labelSmoothing: eps)
        #expect(near(smooth.loss, c["loss_label_smoothing"] as? Double ?? .nan))
        let robust = DPOLoss.compute(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rrj,
                                     beta: beta, labelSmoothing: eps, variant: .robust)
        #expect(near(robust.loss, c["loss_robust"] as? Double ?? .nan))
        for (a, b) in zip(plain.chosenRewards, c["chosen_rewards"] as? [Double] ?? []) { #expect(near(a, b)) }
        for (a, b) in zip(plain.margins, c["margins"] as? [Double] ?? []) { #expect(near(a, b)) }
        #expect(plain.accuracy == c["accuracy"] as? Double)
    }

    @Test("the DPO gradient matches a finite difference of the loss")
    func dpoGradient() {
        let args = ([-41.3, -77.1], [-140.1, -17.5], [-37.9, -67.9], [-142.9, -19.4])
        func loss(_ pc: [Double], _ pr: [Double]) -> Double {
            DPOLoss.compute(policyChosen: pc, policyRejected: pr, referenceChosen: args.2, referenceRejected: args.3, beta: 0.1,
                            labelSmoothing: 0.1).loss
        }
        let r = DPOLoss.compute(policyChosen: args.0, policyRejected: args.1, referenceChosen: args.2, referenceRejected: args.3,
                                beta: 0.1, labelSmoothing: 0.1)
        let h = 1e-5
        for i in 0..<2 {
            var up = args.0, down = args.0
            up[i] += h
            down[i] -= h
            #expect(abs((loss(up, args.1) - loss(down, args.1)) / (2 * h) - r.chosenGradients[i]) < 1e-7)
            var upR = args.1, downR = args.1
            upR[i] += h
            downR[i] -= h
            #expect(abs((loss(args.0, upR) - loss(args.0, downR)) / (2 * h) - r.rejectedGradients[i]) < 1e-7)
        }
    }
}
