import Tensors

/// `task_arithmetic` — adds weighted task vectors to the base (Ilharco et al. 2023,
/// "Editing Models with Task Arithmetic", arXiv:2212.04089):
///
///     δᵢ = Xᵢ − B;   mixed = Σᵢ wᵢ·δᵢ;   mixed /= Σᵢ wᵢ  (if `normalize`);   mixed *= λ;   R = B + mixed
///
/// Numerics of mergekit 0.1.5: every step is computed in float32 and rounded to the compute dtype
/// (as torch does on bf16/f16 tensors); the weights are first rounded to the compute dtype
/// (`0.3` → `0.30078125` in bf16); the sum over models accumulates in float32 and rounds once; a
/// divisor with |Σw| < 1e-8 becomes 1; `λ` multiplies as a float32 scalar.
/// Defaults: normalize false, lambda 1. (`density` is accepted for compatibility; no sparsification.)
public struct TaskArithmetic: MergeMethod {
    public let name = "task_arithmetic"
    public let parameters: [ParameterSpec] = [
        .number("weight", .perModel, required: true),
        .number("density", .perModel, default: 1),
        .bool("normalize", default: false),
        .bool("rescale", default: false),
        .number("lambda", .global, default: 1),
        .bool("int8_mask", default: false),
    ]
    public let contract = MethodContract(base: .required)

    public init() {}

    /// Inputs stored in the compute dtype: the fused kernels read and write stored bytes.
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) -> StoredKernel? {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let d = task.computeDType
        let others = task.nonBase
        guard io.inputsInComputeDType, !others.isEmpty else { return nil }
        let weights = others.map { Rounding.round(task.number("weight", input: $0) ?? 0, to: d) }
        let sum = Rounding.round(weights.reduce(Float(0), +), to: d)
        let divisor: Float? = task.flag("normalize") ? (abs(sum) < 1e-8 ? 1 : sum) : nil
        let lambda = task.number("lambda") ?? 1
        let out = task.outDType
        return { inputs, acc, dst, _, n, _ in
            for (k, j) in others.enumerated() {
                Fused.addWeightedDelta(inputs[j], base: inputs[b], d, weights[k], into: acc, count: n, first: k == 0)
            }
            Fused.finishTaskArithmetic(
                acc, base: inputs[b], compute: d, divisor: divisor,
                lambda: lambda != 1 ? Float(lambda) : nil, out: out, into: dst, count: n)
        }
    }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        if let kernel = storedKernel(task, io, PassCache()) {
            try io.elementwiseStored(kernel)
            return
        }
        // Inputs stored in another dtype: the shared task-vector kernel (same math, widened blocks).
        try GeneralizedTaskArithmetic(sparsifier: .none, consensus: false, normalizeDefault: false, rescaleDefault: false)
            .merge(task, io)
    }
}
