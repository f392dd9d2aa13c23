import Checkpoints
import Foundation
import Models
import Tensors
import Testing

@testable import Training

/// Every tensor of a safetensors file, widened to float32, by name.
func safetensors(_ path: String) throws -> [String: [Float]] {
    let file = try SafetensorsFile(path: fixtures.appendingPathComponent(path).path)
    var out: [String: [Float]] = [:]
    for info in file.tensors {
        var values = [Float](repeating: 0, count: info.count)
        values.withUnsafeMutableBufferPointer { Convert.widen(file.data(info), info.dtype, count: info.count, into: $0.baseAddress!) }
        out[info.name] = values
    }
    return out
}

/// The unpadded rows of a fixture batch (`attention_mask` 1) and the matching slices of `extra`.
func unpadded(_ inputs: [String: Any], _ key: String = "labels") -> (ids: [[Int]], other: [[Int]]) {
    let ids = (inputs["input_ids"] as? [[Int]]) ?? []
    let mask = (inputs["attention_mask"] as? [[Int]]) ?? []
    let other = (inputs[key] as? [[Int]]) ?? []
    var a: [[Int]] = [], b: [[Int]] = []
    for (i, row) in ids.enumerated() {
        let n = mask[i].reduce(0, +)
        a.append(Array(row[0..<n]))
        b.append(Array(other[i][0..<n]))
    }
    return (a, b)
}

/// The worst `max|a−b| / (1e-5·max|b| + 1e-7)` over every parameter, and its name.
func worstRatio(_ model: TrainableModel, _ grads: FloatTensors, _ expected: [String: [Float]]) -> (Double, String) {
    var worst = (0.0, "")
    for (i, name) in model.names.enumerated() {
        guard let b = expected[name] else { return (.infinity, "missing expected \(name)") }
        let a = Array(grads[i])
        guard a.count == b.count else { return (.infinity, "\(name): \(a.count) vs \(b.count)") }
        let bound = 1e-5 * Double(b.map(abs).max() ?? 0) + 1e-7
        let diff = Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0)
        if diff / bound > worst.0 { worst = (diff / bound, name) }
    }
    if expected.count != model.names.count { return (.infinity, "\(expected.count) expected tensors, \(model.names.count) parameters") }
    return worst
}

@Suite("Backward passes against PyTorch autograd")
struct BackwardTests {
    static let families = ["llama", "qwen2", "mistral", "cohere", "cohere2", "gemma2"]

    @Test("SFT: loss and the gradient of every parameter equal PyTorch's", arguments: families)
    func sft(_ family: String) throws {
        let c = try json("training/\(family)-sft/case.json")
        let inputs = try #require(c["inputs"] as? [String: Any])
        let (ids, labels) = unpadded(inputs)
        let (model, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/\(family)/base"), threads: 2)
        let grads = FloatTensors(shapedLike: params)
        var loss = 0.0
        try model.backward(params, batch: ids, gradients: grads) { logits in
            let r = CausalLMLoss.compute(logits: logits, labels: labels, vocab: model.config.vocabSize, gradients: true)
            loss = r.loss
            return r.logitGradients ?? []
        }
        let expected = try #require((c["loss"] as? NSNumber)?.doubleValue)
        #expect(abs(loss - expected) <= 1e-5 * abs(expected), "loss \(loss) vs \(expected)")
        let (ratio, name) = worstRatio(model, grads, try safetensors("training/\(family)-sft/grads.safetensors"))
        #expect(ratio <= 1, "worst gradient \(name): \(ratio) × the tolerance")
    }

    @Test("DPO: policy log-probs, loss and gradients equal PyTorch's (reference = ft1)", arguments: families)
    func dpo(_ family: String) throws {
        let c = try json("training/\(family)-dpo/case.json")
        let inputs = try #require(c["inputs"] as? [String: Any])
        let (ids, completion) = unpadded(inputs, "completion_mask")
        let (policy, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/\(family)/base"), threads: 2)
        let (reference, refParams) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/\(family)/ft1"), threads: 2)
        let vocab = policy.config.vocabSize
        let labels = zip(ids, completion).map { row, mask in zip(row, mask).map { $1 == 1 ? $0 : CausalLMLoss.ignoreIndex } }
        let refLogps = try SequenceLogprobs.sums(logits: try reference.logits(refParams, batch: ids), labels: labels, vocab: vocab)
        let pairs = ids.count / 2
        let grads = FloatTensors(shapedLike: params)
        var result: DPOLoss.Result?
        try policy.backward(params, batch: ids, gradients: grads) { logits in
            let (sums, back) = SequenceLogprobs.sumsWithGradient(logits: logits, labels: labels, vocab: vocab)
            let r = DPOLoss.compute(
                policyChosen: Array(sums[..<pairs]), policyRejected: Array(sums[pairs...]),
                referenceChosen: Array(refLogps[..<pairs]), referenceRejected: Array(refLogps[pairs...]), beta: 0.1)
            result = r
            return back(r.chosenGradients + r.rejectedGradients)
        }
        let r = try #require(result)
        let expected = try #require((c["loss"] as? NSNumber)?.doubleValue)
        #expect(abs(r.loss - expected) <= 1e-5 * abs(expected), "loss \(r.loss) vs \(expected)")
        #expect(r.accuracy == (c["accuracy"] as? NSNumber)?.doubleValue)
        let refChosen = (c["reference_chosen_logps"] as? [NSNumber])?.map(\.doubleValue) ?? []
        for (a, b) in zip(refLogps[..<pairs], refChosen) { #expect(abs(a - b) <= 1e-5 * abs(b) + 1e-6) }
        let (ratio, name) = worstRatio(policy, grads, try safetensors("training/\(family)-dpo/grads.safetensors"))
        #expect(ratio <= 1, "worst gradient \(name): \(ratio) × the tolerance")
    }

    @Test("finite differences agree with the backward pass on a few parameters of each architecture", arguments: families)
    func finiteDifference(_ family: String) throws {
        let c = try json("training/\(family)-sft/case.json")
        let (ids, labels) = unpadded(try #require(c["inputs"] as? [String: Any]))
        var (model, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/\(family)/base"), threads: 1)
        model.threads = 1
        let vocab = model.config.vocabSize
        let grads = FloatTensors(shapedLike: params)
        try model.backward(params, batch: ids, gradients: grads) {
            CausalLMLoss.compute(logits: $0, labels: labels, vocab: vocab, gradients: true).logitGradients ?? []
        }
        func loss() throws -> Double {
            CausalLMLoss.compute(logits: try model.logits(params, batch: ids), labels: labels, vocab: vocab, gradients: false).loss
        }
        // One element of a norm scale, of the last layer's attention projection and of the embedding.
        let picks = [
            model.names.firstIndex { $0.hasSuffix("input_layernorm.weight") }!,
            model.names.lastIndex { $0.hasSuffix("q_proj.weight") }!,
            model.names.firstIndex(of: "model.embed_tokens.weight")!,
        ]
        for i in picks {
            let g = grads[i]
            let j = (0..<g.count).max { abs(g[$0]) < abs(g[$1]) }!
            let x = params[i][j]
            let h: Float = 1e-2 * max(1, abs(x))
            params[i][j] = x + h
            let up = try loss()
            params[i][j] = x - h
            let down = try loss()
            params[i][j] = x
            let numeric = (up - down) / Double(2 * h)
            #expect(abs(numeric - Double(g[j])) <= 0.02 * abs(Double(g[j])) + 1e-4, "\(model.names[i])[\(j)]: \(numeric) vs \(g[j])")
        }
    }

    @Test("the gradients do not depend on the thread count")
    func threadIndependence() throws {
        let c = try json("training/gemma2-sft/case.json")
        let (ids, labels) = unpadded(try #require(c["inputs"] as? [String: Any]))
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            let (model, params) = try TrainableModel.load(folder: fixtures.appendingPathComponent("models/gemma2/base"), threads: threads)
            let grads = FloatTensors(shapedLike: params)
            try model.backward(params, batch: ids, gradients: grads) {
                CausalLMLoss.compute(logits: $0, labels: labels, vocab: model.config.vocabSize, gradients: true).logitGradients ?? []
            }
            results.append(grads.arrays)
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }
}
