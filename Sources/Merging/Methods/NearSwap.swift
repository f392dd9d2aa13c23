import Tensors

/// `nearswap` — take the other model's value where the two models are within `t` of each other,
/// keep the base where they are far apart (mergekit's "NearSwap"):
///
///     w = clamp(t / max(|a − b|, 1e-6), 0, 1);   R = w·b + (1 − w)·a
///
/// `a` is the base, `b` the other model; every step rounded to the compute dtype, and `t / x` taken
/// as torch evaluates a Python scalar over a tensor: `reciprocal(x) · t`.
public struct NearSwap: MergeMethod {
    public let name = "nearswap"
    public let parameters: [ParameterSpec] = [.number("t", .global, required: true)]
    public let contract = MethodContract(base: .required, minNonBase: 1, maxNonBase: 1)

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let a = task.baseIndex, let b = task.nonBase.first else {
            try io.copyInput(0)
            return
        }
        let d = task.computeDType
        let t = Float(task.number("t") ?? 0)
        let tiny = Rounding.round(1e-6, to: d)
        try io.elementwise { block in
            let x = block.inputs[a], y = block.inputs[b]
            for i in 0..<block.count {
                let diff = max(Rounding.round(abs(Rounding.round(x[i] - y[i], to: d)), to: d), tiny)
                let w = min(1, max(0, Rounding.round(Rounding.round(1 / diff, to: d) * t, to: d)))
                let oneMinus = Rounding.round(1 - w, to: d)
                block.out[i] = Rounding.round(Rounding.round(w * y[i], to: d) + Rounding.round(oneMinus * x[i], to: d), to: d)
            }
        }
    }
}
