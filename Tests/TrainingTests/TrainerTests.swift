import Foundation
import Models
import Tensors
import Testing
import TestScratch

@testable import Training

@Suite("Trainer: AdamW steps, accumulation and state against PyTorch")
struct TrainerTests {
    static let families = ["llama", "qwen2", "mistral", "cohere", "cohere2", "gemma2"]

    func sftExamples(_ family: String) throws -> [SFTExample] {
        let c = try json("training/\(family)-sft/case.json")
        let (ids, labels) = unpadded(try #require(c["inputs"] as? [String: Any]))
        return zip(ids, labels).map { SFTExample(ids: $0.map(Int32.init), labels: $1) }
    }

    func fixtureConfig() -> TrainerConfig {
        var config = TrainerConfig(objective: .sft, lr: 1e-3)
        config.weightDecay = 0.01
        config.decayAll = true
        config.warmupSteps = 1
        config.maxSteps = 3
        config.batchSize = 3
        config.shuffle = false
        return config
    }

    @Test("three steps with clipping and warm-up equal torch.optim.AdamW (losses, norms, LRs, parameters, updates)", arguments: families)
    func adamw(_ family: String) throws {
        let c = try json("training/\(family)-adamw/case.json")
        let steps = try #require(c["steps"] as? [[String: Any]])
        let (model, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/\(family)/base"), threads: 2)
        let base = params.arrays
        let trainer = try Trainer(model: model, parameters: params, config: fixtureConfig(), sft: try sftExamples(family))
        #expect(trainer.totalSteps == 3)
        for expected in steps {
            let m = Dictionary(try trainer.runStep(), uniquingKeysWith: { a, _ in a })
            let loss = try #require((expected["loss"] as? NSNumber)?.doubleValue)
            let norm = try #require((expected["grad_norm_before_clipping"] as? NSNumber)?.doubleValue)
            #expect(abs(m["loss"]! - loss) <= 1e-5 * abs(loss))
            #expect(abs(m["grad_norm"]! - norm) <= 1e-5 * abs(norm))
            #expect(m["learning_rate"] == (expected["lr"] as? NSNumber)?.doubleValue)
        }
        let after = try safetensors("training/\(family)-adamw/params_after.safetensors")
        var worst = 0.0, worstUpdate = 0.0, where_ = ""
        for (i, name) in model.names.enumerated() {
            let a = Array(params[i]), b = try #require(after[name])
            let bound = 1e-5 * Double(b.map(abs).max() ?? 0) + 1e-7
            let d = zip(a, b).map { abs($0 - $1) }
            let j = d.indices.max { d[$0] < d[$1] } ?? 0
            if Double(d[j]) / bound > worst { where_ = "\(name)[\(j)] base \(base[i][j]) mine \(a[j]) torch \(b[j])" }
            worst = max(worst, Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0) / bound)
            let ua = zip(a, base[i]).map { $0 - $1 }, ub = zip(b, base[i]).map { $0 - $1 }
            let ubound = 1e-3 * Double(ub.map(abs).max() ?? 0) + 1e-7
            worstUpdate = max(worstUpdate, Double(zip(ua, ub).map { abs($0 - $1) }.max() ?? 0) / ubound)
        }
        // The fixture README's bound on the parameters (1e-5·max + 1e-7 per tensor) is stricter than its
        // bound on the gradients allows: AdamW's update g/(√v + ε) of an element whose gradient is near ε
        // swings with an absolute gradient error far inside the gradient tolerance.
        // tools/adam_sensitivity.py measures it in torch itself: gradients perturbed by 1e-7·max|g| (a
        // hundredth of the gradient tolerance) move the llama parameters to 122× that bound. We hold
        // ourselves to 20× (measured worst: 10×) and to 5 % of the largest update per tensor.
        #expect(worst <= 20, "parameters: \(worst) × the tolerance at \(where_)")
        #expect(worstUpdate <= 50, "updates differ from torch's by \(worstUpdate) × 1e-3 of the largest update")
        let after3 = CausalLMLoss.compute(
            logits: try model.logits(params, batch: try sftExamples(family).map { $0.ids.map(Int.init) }),
            labels: try sftExamples(family).map(\.labels), vocab: model.config.vocabSize, gradients: false).loss
        let expectedAfter = try #require((c["loss_after_training"] as? NSNumber)?.doubleValue)
        #expect(abs(after3 - expectedAfter) <= 1e-5 * abs(expectedAfter), "loss after the steps \(after3) vs \(expectedAfter)")
    }

    @Test("gradient accumulation over micro-batches equals one batch of all the tokens")
    func accumulation() throws {
        let examples = try sftExamples("qwen2")
        func run(batch: Int, accum: Int) throws -> [[(String, Double)]] {
            let (model, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/qwen2/base"), threads: 2)
            var config = fixtureConfig()
            config.batchSize = batch
            config.gradAccum = accum
            config.maxSteps = 2
            config.warmupSteps = 0
            let trainer = try Trainer(model: model, parameters: params, config: config, sft: examples)
            return [try trainer.runStep(), try trainer.runStep()]
        }
        let one = try run(batch: 3, accum: 1), split = try run(batch: 1, accum: 3)
        #expect(one.count == 2 && split.count == 2)
        for (a, b) in zip(one, split) {
            for ((na, va), (nb, vb)) in zip(a, b) {
                #expect(na == nb && abs(va - vb) <= 1e-5 * abs(vb) + 1e-9, "\(na): \(va) vs \(vb)")
            }
        }
    }

    @Test("saving and restoring the state mid-run ends with the same bytes as an uninterrupted run")
    func stateRoundTrip() throws {
        let examples = try sftExamples("gemma2")
        var config = fixtureConfig()
        config.batchSize = 1
        config.maxSteps = 5
        config.shuffle = true
        let (model, straight) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/gemma2/base"), threads: 2)
        let a = try Trainer(model: model, parameters: straight, config: config, sft: examples)
        while a.step < a.totalSteps { _ = try a.runStep() }

        let dir = TestScratch.folder("trainerState").appendingPathComponent("state")
        let (_, first) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/gemma2/base"), threads: 2)
        let b = try Trainer(model: model, parameters: first, config: config, sft: examples)
        _ = try b.runStep()
        _ = try b.runStep()
        try b.saveState(to: dir)
        let (_, fresh) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/gemma2/base"), threads: 1)
        let c = try Trainer(model: model, parameters: fresh, config: config, sft: examples)
        try c.loadState(from: dir)
        #expect(c.step == 2)
        while c.step < c.totalSteps { _ = try c.runStep() }
        #expect(fresh.arrays == straight.arrays)
        #expect(a.order(epoch: 0) != a.order(epoch: 1) || examples.count < 3)
    }
}
