import Tensors

/// `linear` — weighted average (Wortsman et al. 2022, "Model soups", arXiv:2203.05482).
///
///     R = Σⱼ wⱼ·Yⱼ            (then R / Σⱼ wⱼ when `normalize`, the default)
///
/// Numerics of mergekit 0.1.5: weights as float32; a float32 accumulator starting at 0, one fused
/// multiply-add per model in config order (`acc = fma(Yⱼ, wⱼ, acc)`, as torch's `addcmul_`); a true
/// division by the float32 sum of the weights; one rounding to the compute dtype at the end.
/// No guard for weights summing to zero (mergekit gives ±inf/NaN too; the planner warns).
public struct Linear: MergeMethod {
    public let name = "linear"
    public let parameters: [ParameterSpec] = [
        .number("weight", .perModel, required: true),
        .bool("normalize", default: true),
    ]
    public let contract = MethodContract(base: .ordinaryInput, minNonBase: 1, baseTakesModelParameters: true)

    public init() {}

    /// Inputs stored in the compute dtype: the fused kernels read and write stored bytes.
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) -> StoredKernel? {
        guard io.inputsInComputeDType else { return nil }
        let weights = task.inputs.indices.map { Float(task.number("weight", input: $0) ?? 0) }
        let total = weights.dropFirst().reduce(weights[0], +)
        let divisor: Float? = task.flag("normalize") ? total : nil
        let compute = task.computeDType, out = task.outDType
        return { inputs, acc, dst, _, n, _ in
            for (j, w) in weights.enumerated() {
                Fused.multiplyAccumulate(inputs[j], compute, w, into: acc, count: n, first: j == 0)
            }
            Fused.finishLinear(acc, divisor: divisor, compute: compute, out: out, into: dst, count: n)
        }
    }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        if let kernel = storedKernel(task, io, PassCache()) {
            try io.elementwiseStored(kernel)
            return
        }
        let weights = task.inputs.indices.map { Float(task.number("weight", input: $0) ?? 0) }
        let normalize = task.flag("normalize")
        let total = weights.dropFirst().reduce(weights[0], +)
        try io.elementwise { block in
            block.out.initialize(repeating: 0, count: block.count)
            for (j, w) in weights.enumerated() {
                Kernels.fusedMultiplyAdd(block.out, block.inputs[j], w, count: block.count)
            }
            if normalize { Kernels.divide(block.out, by: total, count: block.count) }
        }
    }
}
