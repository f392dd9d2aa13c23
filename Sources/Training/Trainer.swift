import Checkpoints
import Foundation
import Models
import Tensors

/// The settings of the training loop itself (what `mixmerge train` passes down).
public struct TrainerConfig: Sendable, Codable, Equatable {
    public enum Objective: String, Sendable, Codable { case sft, dpo }
    public var objective: Objective
    public var lr: Double
    public var weightDecay: Double = 0
    /// Weight decay on every parameter (torch's one group) instead of matrices only (the HF Trainer's grouping).
    public var decayAll = false
    public var schedule: LearningRateSchedule.Kind = .linear
    public var warmupSteps = 0
    public var warmupRatio: Double?
    public var maxGradNorm: Double = 1
    public var gradAccum = 1
    public var batchSize = 8
    public var epochs = 1
    public var maxSteps: Int?
    public var seed: UInt64 = 42
    public var shuffle = true
    public var beta: Double = 0.1
    public var labelSmoothing: Double = 0
    public var dpoVariant: DPOLoss.Variant = .sigmoid
    public var adamBeta1 = 0.9, adamBeta2 = 0.999, adamEps = 1e-8

    public init(objective: Objective, lr: Double) {
        self.objective = objective
        self.lr = lr
    }
}

/// A training error that names what is wrong.
public struct TrainerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Full fine-tuning of a `TrainableModel` with AdamW: SFT (transformers' causal-LM loss) or DPO
/// (TRL's losses against reference log-probabilities computed once), gradient accumulation, global
/// clipping, transformers' schedules, a seeded data order; state that can be saved and restored so a
/// resumed run ends with the same bytes as an uninterrupted one.
public final class Trainer {
    public let model: TrainableModel
    public let parameters: FloatTensors
    public let config: TrainerConfig
    let gradients: FloatTensors
    public private(set) var optimizer: AdamW
    /// Optimizer steps done.
    public private(set) var step = 0
    let sft: [SFTExample]
    let pairs: [PreferenceExample]
    /// Reference log-probabilities (chosen, rejected) of each pair.
    let reference: [(Double, Double)]
    let schedule: LearningRateSchedule
    let decays: [Bool]

    /// Micro-batches per epoch and optimizer steps per epoch.
    public let batchesPerEpoch: Int
    public let stepsPerEpoch: Int
    public let totalSteps: Int

    /// - Parameters:
    ///   - referenceModel: DPO's reference (nil: the starting policy); its log-probabilities are computed here, once.
    public init(
        model: TrainableModel, parameters: FloatTensors, config: TrainerConfig, sft: [SFTExample] = [],
        pairs: [PreferenceExample] = [], referenceModel: (TrainableModel, FloatTensors)? = nil
    ) throws {
        self.model = model
        self.parameters = parameters
        self.config = config
        self.sft = sft
        self.pairs = pairs
        gradients = FloatTensors(shapedLike: parameters)
        optimizer = AdamW(beta1: config.adamBeta1, beta2: config.adamBeta2, eps: config.adamEps, weightDecay: config.weightDecay)
        let n = config.objective == .sft ? sft.count : pairs.count
        guard n > 0 else { throw TrainerError("no training examples") }
        batchesPerEpoch = (n + config.batchSize - 1) / config.batchSize
        stepsPerEpoch = (batchesPerEpoch + config.gradAccum - 1) / config.gradAccum
        let total = config.maxSteps ?? stepsPerEpoch * config.epochs
        totalSteps = total
        let warmup = config.warmupRatio.map { LearningRateSchedule.warmupSteps(ratio: $0, totalSteps: total) }
            ?? config.warmupSteps
        schedule = LearningRateSchedule(config.schedule, peak: config.lr, warmupSteps: warmup, totalSteps: total)
        let decayAll = config.decayAll
        decays = model.names.indices.map { decayAll || model.isMatrix($0) }
        if config.objective == .dpo {
            let (refModel, refParams) = referenceModel ?? (model, parameters)
            reference = try Trainer.referenceLogprobs(refModel, refParams, pairs, batchSize: config.batchSize)
        } else {
            reference = []
        }
    }

    /// Summed completion log-probabilities (chosen, rejected) of each pair under `model`.
    public static func referenceLogprobs(
        _ model: TrainableModel, _ params: FloatTensors, _ pairs: [PreferenceExample], batchSize: Int
    ) throws -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        var i = 0
        while i < pairs.count {
            let chunk = Array(pairs[i..<min(pairs.count, i + batchSize)])
            let (rows, labels) = rowsAndLabels(Batch.dpo(chunk, pad: 0))
            let sums = try SequenceLogprobs.sums(logits: try model.logits(params, batch: rows), labels: labels, vocab: model.config.vocabSize)
            for j in chunk.indices { out.append((sums[j], sums[chunk.count + j])) }
            i += batchSize
        }
        return out
    }

    /// The unpadded rows of a batch and their labels.
    static func rowsAndLabels(_ b: Batch) -> ([[Int]], [[Int]]) {
        (zip(b.ids, b.lengths).map { ids, n in ids[0..<n].map(Int.init) }, zip(b.labels, b.lengths).map { Array($0[0..<$1]) })
    }

    /// The example order of an epoch: a seeded Fisher–Yates permutation (or the file order).
    public func order(epoch: Int) -> [Int] {
        let n = config.objective == .sft ? sft.count : pairs.count
        var idx = Array(0..<n)
        guard config.shuffle else { return idx }
        var rng = Xoshiro256StarStar(seed: config.seed, purpose: "epoch-\(epoch)")
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            idx.swapAt(i, j)
        }
        return idx
    }

    /// The micro-batches (example indices) of optimizer step `s` (0-based).
    public func microBatches(step s: Int) -> [[Int]] {
        let epoch = s / stepsPerEpoch, j = s % stepsPerEpoch
        let order = order(epoch: epoch)
        var out: [[Int]] = []
        for b in (j * config.gradAccum)..<min((j + 1) * config.gradAccum, batchesPerEpoch) {
            out.append(Array(order[(b * config.batchSize)..<min(order.count, (b + 1) * config.batchSize)]))
        }
        return out
    }

    /// One optimizer step; returns TRL's metrics for it (`loss`, `grad_norm`, `learning_rate`, and
    /// for DPO `rewards/*`, `logps/*`).
    public func runStep() throws -> [(String, Double)] {
        let s = step
        let lr = schedule.learningRate(afterSchedulerSteps: s)
        gradients.zero()
        let batches = microBatches(step: s)
        var metrics: [(String, Double)] = []
        let vocab = model.config.vocabSize
        switch config.objective {
        case .sft:
            let all = batches.map { $0.map { sft[$0] } }
            let tokens = all.map { b in b.reduce(0) { acc, e in acc + e.labels.dropFirst().filter { $0 != CausalLMLoss.ignoreIndex }.count } }
            let total = tokens.reduce(0, +)
            guard total > 0 else { throw TrainerError("step \(s + 1): no trained tokens in the batch (every label is masked)") }
            var sum = 0.0
            for (b, examples) in all.enumerated() where tokens[b] > 0 {
                let (rows, labels) = Trainer.rowsAndLabels(Batch.sft(examples, pad: 0))
                let weight = Float(Double(tokens[b]) / Double(total))
                try model.backward(parameters, batch: rows, gradients: gradients) { logits in
                    let r = CausalLMLoss.compute(logits: logits, labels: labels, vocab: vocab, gradients: true)
                    sum += r.loss * Double(r.labelTokens)
                    return (r.logitGradients ?? []).map { $0.map { $0 * weight } }
                }
            }
            metrics.append(("loss", sum / Double(total)))
        case .dpo:
            let totalPairs = batches.reduce(0) { $0 + $1.count }
            var loss = 0.0, chosenR = 0.0, rejectedR = 0.0, acc = 0.0, margins = 0.0, lc = 0.0, lrj = 0.0
            for indices in batches {
                let chunk = indices.map { pairs[$0] }
                let (rows, labels) = Trainer.rowsAndLabels(Batch.dpo(chunk, pad: 0))
                let n = chunk.count
                let weight = Double(n) / Double(totalPairs)
                try model.backward(parameters, batch: rows, gradients: gradients) { logits in
                    let (sums, back) = SequenceLogprobs.sumsWithGradient(logits: logits, labels: labels, vocab: vocab)
                    let r = DPOLoss.compute(
                        policyChosen: Array(sums[..<n]), policyRejected: Array(sums[n...]),
                        referenceChosen: indices.map { self.reference[$0].0 },
                        referenceRejected: indices.map { self.reference[$0].1 }, beta: config.beta,
                        labelSmoothing: config.labelSmoothing, variant: config.dpoVariant)
                    loss += r.loss * weight
                    chosenR += r.chosenRewards.reduce(0, +) / Double(totalPairs)
                    rejectedR += r.rejectedRewards.reduce(0, +) / Double(totalPairs)
                    margins += r.margins.reduce(0, +) / Double(totalPairs)
                    acc += r.accuracy * weight
                    lc += sums[..<n].reduce(0, +) / Double(totalPairs)
                    lrj += sums[n...].reduce(0, +) / Double(totalPairs)
                    return back((r.chosenGradients + r.rejectedGradients).map { $0 * weight })
                }
            }
            metrics += [
                ("loss", loss), ("rewards/chosen", chosenR), ("rewards/rejected", rejectedR), ("rewards/accuracies", acc),
                ("rewards/margins", margins), ("logps/chosen", lc), ("logps/rejected", lrj),
            ]
        }
        let norm = GradientClipping.clip(gradients, maxNorm: config.maxGradNorm)
        optimizer.update(parameters, gradients: gradients, lr: lr, decays: decays)
        step += 1
        metrics += [("grad_norm", norm), ("learning_rate", lr)]
        return metrics
    }

    /// Held-out metrics with the current parameters: SFT `eval_loss`; DPO `eval_loss`,
    /// `eval_rewards/accuracies`, `eval_rewards/margins` (reference = the reference model's log-probs
    /// of those pairs, given).
    public func evaluate(sft examples: [SFTExample]) throws -> Double {
        var sum = 0.0, count = 0
        var i = 0
        while i < examples.count {
            let chunk = Array(examples[i..<min(examples.count, i + config.batchSize)])
            let (rows, labels) = Trainer.rowsAndLabels(Batch.sft(chunk, pad: 0))
            let r = CausalLMLoss.compute(
                logits: try model.logits(parameters, batch: rows), labels: labels, vocab: model.config.vocabSize, gradients: false)
            sum += r.loss * Double(r.labelTokens)
            count += r.labelTokens
            i += config.batchSize
        }
        return count > 0 ? sum / Double(count) : .nan
    }

    public func evaluate(pairs held: [PreferenceExample], reference ref: [(Double, Double)]) throws -> DPOLoss.Result {
        let policy = try Trainer.referenceLogprobs(model, parameters, held, batchSize: config.batchSize)
        return DPOLoss.compute(
            policyChosen: policy.map(\.0), policyRejected: policy.map(\.1), referenceChosen: ref.map(\.0),
            referenceRejected: ref.map(\.1), beta: config.beta, labelSmoothing: config.labelSmoothing, variant: config.dpoVariant)
    }

    // MARK: state

    /// Writes the resumable state (parameters, moments, step) into the folder `dir`, which must not exist:
    /// it is built under a temporary name and renamed, so a kill at any moment leaves either the
    /// previous state or this one.
    public func saveState(to dir: URL) throws {
        let temp = dir.deletingLastPathComponent().appendingPathComponent(".\(dir.lastPathComponent).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: temp)
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
            try TensorFile.writeFloat32(
                names: model.names, shapes: model.shapes, values: parameters, to: temp.appendingPathComponent("parameters.safetensors"))
            if optimizer.step > 0 {
                let moments = FloatTensors(optimizer.m + optimizer.v)
                try TensorFile.writeFloat32(
                    names: model.names.map { "m." + $0 } + model.names.map { "v." + $0 }, shapes: model.shapes + model.shapes,
                    values: moments, to: temp.appendingPathComponent("optimizer.safetensors"))
            }
            let state = "{\"step\": \(step), \"optimizer_step\": \(optimizer.step)}\n"
            try Data(state.utf8).write(to: temp.appendingPathComponent("state.json"))
            guard rename(temp.path, dir.path) == 0 else {
                throw TrainerError("\(dir.path): cannot save the training state (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
    }

    /// Restores a state written by `saveState`.
    public func loadState(from dir: URL) throws {
        let stateURL = dir.appendingPathComponent("state.json")
        guard let data = try? Data(contentsOf: stateURL),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let s = object["step"] as? Int, let os = object["optimizer_step"] as? Int
        else { throw TrainerError("\(stateURL.path): missing or unreadable training state") }
        let p = try TensorFile.readFloat32(dir.appendingPathComponent("parameters.safetensors"), names: model.names, counts: parameters.counts)
        for i in 0..<parameters.count { parameters[i].update(fromContentsOf: p[i]) }
        if os > 0 {
            let all = try TensorFile.readFloat32(
                dir.appendingPathComponent("optimizer.safetensors"),
                names: model.names.map { "m." + $0 } + model.names.map { "v." + $0 }, counts: parameters.counts + parameters.counts)
            let k = parameters.count
            optimizer = AdamW(restoring: optimizer, step: os, m: Array(all[..<k]), v: Array(all[k...]))
        }
        step = s
    }
}

/// Float32 safetensors files of named tensors (training state), written and read whole.
public enum TensorFile {
    public static func writeFloat32(names: [String], shapes: [[Int]], values: FloatTensors, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let planned = zip(names, shapes).map { PlannedTensor(name: $0, dtype: .f32, shape: $1) }
        let writer = try ShardedWriter(directory: dir, tensors: planned, maxShardSize: 0)
        for (i, name) in names.enumerated() {
            try writer.write(name, byteOffset: 0, bytes: UnsafeRawPointer(values.pointer(i)), count: values.counts[i] * 4)
        }
        try writer.finish()
        if url.lastPathComponent != "model.safetensors" {
            guard rename(dir.appendingPathComponent("model.safetensors").path, url.path) == 0 else {
                throw TrainerError("\(url.path): cannot write (\(String(cString: strerror(errno))))")
            }
        }
    }

    public static func readFloat32(_ url: URL, names: [String], counts: [Int]) throws -> [[Float]] {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: url.path) } catch { throw TrainerError("\(error)") }
        return try zip(names, counts).map { name, n in
            guard let info = file.info(name), info.count == n, info.dtype.isComputed else {
                throw TrainerError("\(url.path): tensor '\(name)' is missing or misshapen")
            }
            var out = [Float](repeating: 0, count: n)
            out.withUnsafeMutableBufferPointer { Convert.widen(file.data(info), info.dtype, count: n, into: $0.baseAddress!) }
            return out
        }
    }
}
