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
    /// Tensors up to this many elements rank magnitudes by replaying torch's sort
    /// (`SparsificationPass.sortLimit`); a test lowers it to exercise the streaming selection.
    var sortLimit = SparsificationPass.sortLimit

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
        guard !task.nonBase.isEmpty else {
            try io.copyInput(b)
            return
        }
        if let kernel = try storedKernel(task, io, PassCache()) {
            try io.elementwiseStored(kernel)
            return
        }
        let prepared = try prepare(task, io, PassCache())
        let d = task.computeDType
        try io.elementwiseWithWorker { block, worker in
            let (inputs, blockLocal) = prepared.kernelInputs(
                offset: block.offset, count: block.count, worker: worker, values: { UnsafeRawPointer(block.inputs[$0]) }
            ) { j, bits in
                Fused.deltaMagnitudeBits(block.inputs[j], block.inputs[b], compute: d, into: bits, count: block.count)
            }
            TaskVectorKernel.merge(
                base: block.inputs[b], inputs: inputs, compute: d, options: prepared.options, offset: blockLocal ? 0 : block.offset,
                count: block.count, into: block.out)
        }
    }

    /// The common case, bf16 checkpoints merged in bf16: the kernel reads the stored inputs and
    /// writes the stored output, after the sparsification passes (shared through `cache` by sweep
    /// variants with the same sparsification, when it draws nothing at random).
    func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        guard let b = task.baseIndex, !task.nonBase.isEmpty, task.computeDType == .bf16, task.outDType == .bf16,
              io.inputsInComputeDType else { return nil }
        let prepared = try prepare(task, io, cache)
        return { stored, _, out, offset, count, worker in
            let (inputs, blockLocal) = prepared.kernelInputs(offset: offset, count: count, worker: worker, values: { stored[$0] }) { j, bits in
                Fused.deltaMagnitudeBits(stored[j], .bf16, stored[b], .bf16, compute: .bf16, into: bits, count: count)
            }
            // Block-local masks are indexed from 0; whole-tensor masks (random, empty) by element.
            TaskVectorKernel.mergeStoredBF16(
                base: stored[b], inputs: inputs, options: prepared.options, offset: blockLocal ? 0 : offset, count: count, into: out)
        }
    }

    /// The sparsification passes and everything the element-wise kernel needs.
    func prepare(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> Prepared {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let d = task.computeDType
        let others = task.nonBase
        let rescale = task.flag("rescale")
        let density = others.map { task.number("density", input: $0) ?? 1 }
        let gamma = others.map { task.number("gamma", input: $0) ?? 0.01 }
        let epsilon = others.map { task.number("epsilon", input: $0) ?? 0.15 }
        func sparsify() throws -> [SparsifiedDelta] {
            try SparsificationPass(io: io, task: task, base: b, sortLimit: sortLimit)
                .runAll(sparsifier, models: others, density: density, gamma: gamma, epsilon: epsilon, rescale: rescale)
        }
        let random = sparsifier == .random || sparsifier == .della
        let sparsified = random ? try sparsify() : try cache.value("sparsify \(sparsifier) \(d) \(density) \(gamma) \(rescale)", sparsify)
        let weights = others.map { Rounding.round(task.number("weight", input: $0) ?? 0, to: d) }
        var divisor = Rounding.round(weights.dropFirst().reduce(weights[0], +), to: d)
        if abs(divisor) < 1e-8 { divisor = 1 }
        let lambda = task.number("lambda") ?? 1
        let options = TaskVectorKernel.Options(
            consensus: consensus, normalize: task.flag("normalize"), divisor: divisor, lambda: lambda != 1 ? Float(lambda) : nil)
        return Prepared(sparsified: sparsified, weights: weights, options: options, models: others, items: io.items, workers: io.workers)
    }

    /// A task's sparsified deltas, weights and options, with the per-worker state of the merge
    /// pass. Magnitude selections: per work item a band of |δ| (ties at a boundary all kept or all
    /// dropped); only the item where a boundary's tie quota runs out builds a block mask from the
    /// block's deltas, with the item's running tie counters (its blocks arrive in order on one worker).
    final class Prepared: @unchecked Sendable {
        // Sendable: worker w only touches its own block masks and magnitude buffer, and item i's
        // counters are only touched by the worker running item i.
        let sparsified: [SparsifiedDelta]
        let weights: [Float]
        let options: TaskVectorKernel.Options
        let models: [Int]
        let selected: [Int]
        let blockMasks: [[Bitmask]]
        let magnitudes: UnsafeMutablePointer<UInt32>
        let counters: UnsafeMutablePointer<(Int, Int)>

        init(sparsified: [SparsifiedDelta], weights: [Float], options: TaskVectorKernel.Options, models: [Int], items: Int, workers: Int) {
            self.sparsified = sparsified
            self.weights = weights
            self.options = options
            self.models = models
            let selected = sparsified.indices.filter { sparsified[$0].selection != nil }
            self.selected = selected
            blockMasks = (0..<workers).map { _ in selected.map { _ in Bitmask(count: TensorIO.blockSize) } }
            magnitudes = .allocate(capacity: TensorIO.blockSize * workers)
            counters = .allocate(capacity: max(1, items * selected.count))
            for item in 0..<items {
                for (q, k) in selected.enumerated() {
                    counters[item * selected.count + q] = (sparsified[k].selection!.tiesLo[item], sparsified[k].selection!.tiesHi[item])
                }
            }
        }

        deinit {
            magnitudes.deallocate()
            counters.deallocate()
        }

        /// Per block: the kernel's inputs, with each model's keep mask or band (`magnitudesOf` writes
        /// a model's |δ| bit patterns for the block into a buffer, only where a tie quota runs out in
        /// the block's item), and whether the masks are block-local (indexed from 0).
        func kernelInputs(
            offset: Int, count: Int, worker: Int, values: (_ model: Int) -> UnsafeRawPointer,
            magnitudesOf: (_ model: Int, _ into: UnsafeMutablePointer<UInt32>) -> Void
        ) -> (inputs: [TaskVectorInput], blockLocal: Bool) {
            var keeps = sparsified.map(\.keep)
            var bands = [MagnitudeBand?](repeating: nil, count: models.count)
            var blockLocal = false
            let item = offset / TensorIO.itemSize
            for (q, k) in selected.enumerated() {
                let selection = sparsified[k].selection!
                if let band = selection.band(item: item) {
                    bands[k] = band
                    continue
                }
                let bits = magnitudes + worker * TensorIO.blockSize
                magnitudesOf(models[k], bits)
                let mask = blockMasks[worker][q]
                selection.fill(bits, count: count, into: mask.words, counters: &counters[item * selected.count + q])
                keeps[k] = mask
                blockLocal = true
            }
            let inputs = models.enumerated().map { k, j in
                TaskVectorInput(
                    x: values(j), weight: weights[k], keep: keeps[k], band: bands[k],
                    scale: sparsified[k].scale, scaleDType: sparsified[k].scaleDType)
            }
            return (inputs, blockLocal)
        }
    }
}
