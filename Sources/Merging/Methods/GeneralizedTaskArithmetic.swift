import Tensors

/// The engine behind the task-vector methods (task_arithmetic, ties, dare_*, breadcrumbs*, della*):
/// one algorithm with two switches, a sparsifier and sign consensus (mergekit-spec §3.6.1).
///
///     δᵢ = Xᵢ − B;  δ̃ᵢ = sparsify(δᵢ);  Δᵢ = wᵢ·δ̃ᵢ
///     consensus: σ = sign(ΣΔᵢ) (0 → +);  mixed = Σ Δᵢ[sign Δᵢ = σ];  divisor = Σ wᵢ[sign Δᵢ = σ] (0 → 1)
///     otherwise: mixed = ΣΔᵢ;  divisor = Σwᵢ (|·| < 1e-8 → 1)
///     R = B + λ·(normalize ? mixed/divisor : mixed)
///
/// Every step is computed in the compute dtype as mergekit 0.1.5 does (TaskVectorKernel). Random
/// sparsifiers draw from the merge's MT19937 in mergekit's order (tensors by name, models in config
/// order, one word per element), so `--seed N` reproduces mergekit's CPU masks bit for bit.
struct GeneralizedTaskArithmetic: Sendable {
    let sparsifier: Sparsifier
    let consensus: Bool
    let normalizeDefault: Bool
    let rescaleDefault: Bool

    var parameters: [ParameterSpec] {
        var p: [ParameterSpec] = [
            .number("weight", .perModel, required: true),
            .number("density", .perModel, default: 1),
            .bool("normalize", default: normalizeDefault),
            .bool("rescale", default: rescaleDefault),
            .number("lambda", .global, default: 1),
            .bool("int8_mask", default: false),
        ]
        if sparsifier == .outliers { p.append(.number("gamma", .perModel, default: 0.01)) }
        if sparsifier == .della { p.append(.number("epsilon", .perModel, default: 0.15)) }
        return p
    }

    var contract: MethodContract { MethodContract(base: .required) }

    func validate(_ task: TensorTask, method: String) throws {
        guard sparsifier == .della else { return }
        for j in task.nonBase {
            let density = task.number("density", input: j) ?? 1, epsilon = task.number("epsilon", input: j) ?? 0.15
            guard density < 1, density > 0 else { continue }
            if !(density - epsilon > 0 && density + epsilon < 1) {
                throw MergeError.config("\(method): density ± epsilon must lie in (0, 1), got density \(density) and epsilon \(epsilon) (tensor \(task.outputName))")
            }
        }
    }

    /// DARE's masks: one per non-base model with density < 1, in config order.
    func bernoulliDraws(_ task: TensorTask) -> [BernoulliDraw]? {
        guard sparsifier == .random else { return nil }
        guard task.baseIndex != nil else { return [] }
        return task.nonBase.compactMap { j in
            let density = task.number("density", input: j) ?? 1
            guard density < 1 else { return nil }
            return BernoulliDraw(count: task.count, threshold: SparsificationPass.bernoulliThreshold(density: density, compute: task.computeDType))
        }
    }

    func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let d = task.computeDType
        let others = task.nonBase
        guard !others.isEmpty else {
            try io.elementwise { block in block.out.update(from: block.inputs[b], count: block.count) }
            return
        }
        let rescale = task.flag("rescale")
        let pass = SparsificationPass(io: io, task: task, base: b)
        let sparsified = try pass.runAll(
            sparsifier, models: others,
            density: others.map { task.number("density", input: $0) ?? 1 },
            gamma: others.map { task.number("gamma", input: $0) ?? 0.01 },
            epsilon: others.map { task.number("epsilon", input: $0) ?? 0.15 },
            rescale: rescale)
        let weights = others.map { Rounding.round(task.number("weight", input: $0) ?? 0, to: d) }
        var divisor = Rounding.round(weights.dropFirst().reduce(weights[0], +), to: d)
        if abs(divisor) < 1e-8 { divisor = 1 }
        let lambda = task.number("lambda") ?? 1
        let options = TaskVectorKernel.Options(
            consensus: consensus, normalize: task.flag("normalize"), divisor: divisor, lambda: lambda != 1 ? Float(lambda) : nil)
        // Magnitude selections: per work item a band of |δ| (ties at a boundary all kept or all
        // dropped); only the item where a boundary's tie quota runs out builds a block mask from
        // the block's deltas, with the item's running tie counters (its blocks arrive in order on
        // one worker).
        let selected = sparsified.indices.filter { sparsified[$0].selection != nil }
        let blockMasks = (0..<io.workers).map { _ in selected.map { _ in Bitmask(count: TensorIO.blockSize) } }
        let magnitudes = UnsafeMutablePointer<UInt32>.allocate(capacity: TensorIO.blockSize * io.workers)
        defer { magnitudes.deallocate() }
        let counters = UnsafeMutablePointer<(Int, Int)>.allocate(capacity: max(1, io.items * selected.count))
        defer { counters.deallocate() }
        for item in 0..<io.items {
            for (q, k) in selected.enumerated() {
                counters[item * selected.count + q] = (sparsified[k].selection!.tiesLo[item], sparsified[k].selection!.tiesHi[item])
            }
        }
        let box = UncheckedBox((magnitudes, counters))
        // Per block: the kernel's inputs, with each model's keep mask or band (`magnitudesOf` writes
        // a model's |δ| bit patterns for the block into a buffer, only where a tie quota runs out in
        // the block's item), and whether the masks are block-local (indexed from 0).
        func kernelInputs(
            offset: Int, count: Int, worker: Int, values: (_ model: Int) -> UnsafeRawPointer,
            magnitudesOf: (_ model: Int, _ into: UnsafeMutablePointer<UInt32>) -> Void
        ) -> (inputs: [TaskVectorInput], blockLocal: Bool) {
            var keeps = sparsified.map(\.keep)
            var bands = [MagnitudeBand?](repeating: nil, count: others.count)
            var blockLocal = false
            let item = offset / TensorIO.itemSize
            for (q, k) in selected.enumerated() {
                let selection = sparsified[k].selection!
                if let band = selection.band(item: item) {
                    bands[k] = band
                    continue
                }
                let bits = box.value.0 + worker * TensorIO.blockSize
                magnitudesOf(others[k], bits)
                let mask = blockMasks[worker][q]
                selection.fill(bits, count: count, into: mask.words, counters: &box.value.1[item * selected.count + q])
                keeps[k] = mask
                blockLocal = true
            }
            let inputs = others.enumerated().map { k, j in
                TaskVectorInput(
                    x: values(j), weight: weights[k], keep: keeps[k], band: bands[k],
                    scale: sparsified[k].scale, scaleDType: sparsified[k].scaleDType)
            }
            return (inputs, blockLocal)
        }
        if d == .bf16 && task.outDType == .bf16 && io.inputsInComputeDType {
            // The common case (bf16 checkpoints): read the stored inputs, write the stored output.
            try io.elementwiseStoredWithWorker { stored, out, offset, count, worker in
                let (inputs, blockLocal) = kernelInputs(offset: offset, count: count, worker: worker, values: { stored[$0] }) { j, bits in
                    Fused.deltaMagnitudeBits(stored[j], .bf16, stored[b], .bf16, compute: .bf16, into: bits, count: count)
                }
                // Block-local masks are indexed from 0; whole-tensor masks (random, empty) by element.
                TaskVectorKernel.mergeStoredBF16(
                    base: stored[b], inputs: inputs, options: options, offset: blockLocal ? 0 : offset, count: count, into: out)
            }
            return
        }
        try io.elementwiseWithWorker { block, worker in
            let (inputs, blockLocal) = kernelInputs(
                offset: block.offset, count: block.count, worker: worker, values: { UnsafeRawPointer(block.inputs[$0]) }
            ) { j, bits in
                Fused.deltaMagnitudeBits(block.inputs[j], block.inputs[b], compute: d, into: bits, count: block.count)
            }
            TaskVectorKernel.merge(
                base: block.inputs[b], inputs: inputs, compute: d, options: options, offset: blockLocal ? 0 : block.offset,
                count: block.count, into: block.out)
        }
    }
}
