import Tensors

/// `ram` — Reinforced Agent Merging (arXiv:2601.13572): per element, a model contributes where its
/// task vector is larger than ε; an element one model changed takes that change, an element
/// several models changed takes their mean, an element nobody changed keeps the base:
///
///     δᵢ = Xᵢ − B;  nzᵢ = |δᵢ| > ε;  c = Σᵢ nzᵢ
///     R = B + Σᵢ [c = 1]·nzᵢ·δᵢ + [c > 1]·nzᵢ·δᵢ / c
///
/// Numerics of mergekit 0.1.5 (torch on the compute dtype D): δ rounded to D; ε compared as a D
/// value (torch rounds a Python scalar to the tensor's dtype for comparisons); masked-out deltas
/// are `δ·0` (so ±0); `δ/c` rounded to D; each model's term rounded to D; the sum over models
/// accumulated in float32 from +0 and rounded once; `B + sum` rounded to D.
public struct RAM: MergeMethod {
    public let name = "ram"
    public let parameters: [ParameterSpec] = [.number("epsilon", .global, default: 1e-5)]
    public let contract = MethodContract(base: .required)

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let others = task.nonBase
        guard !others.isEmpty else {
            try io.copyInput(b)
            return
        }
        let d = task.computeDType
        let contributions = RAMContributions(epsilon: task.number("epsilon") ?? 1e-5, compute: d, models: others.count)
        try io.elementwise { block in
            contributions.forEachElement(block, base: b, models: others) { i, deltas, nonzero, c in
                var sum: Float = 0
                for (k, delta) in deltas.enumerated() {
                    let z = contributions.masked(delta, nonzero[k])
                    sum += Rounding.round(contributions.unique(z, c) + contributions.shared(z, c), to: d)
                }
                block.out[i] = Rounding.round(block.inputs[b][i] + Rounding.round(sum, to: d), to: d)
            }
        }
    }
}

/// What `ram` and `ramplus_tl` share: per element, each model's rounded delta, whether it counts
/// (|δ| > ε), and the number of models that count.
struct RAMContributions {
    let epsilon: Float
    let compute: DType
    let models: Int

    init(epsilon: Double, compute: DType, models: Int) {
        self.epsilon = Rounding.round(epsilon, to: compute)
        self.compute = compute
        self.models = models
    }

    /// `body(element, deltas, nonzero, c)` for every element of the block.
    @inline(__always)
    func forEachElement(
        _ block: Block, base b: Int, models others: [Int],
        _ body: (_ i: Int, _ deltas: UnsafeMutableBufferPointer<Float>, _ nonzero: UnsafeMutableBufferPointer<Bool>, _ c: Int) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: models) { deltas in
            withUnsafeTemporaryAllocation(of: Bool.self, capacity: models) { nonzero in
                for i in 0..<block.count {
                    var c = 0
                    for (k, j) in others.enumerated() {
                        let delta = Rounding.round(block.inputs[j][i] - block.inputs[b][i], to: compute)
                        deltas[k] = delta
                        nonzero[k] = delta.magnitude > epsilon
                        if nonzero[k] { c += 1 }
                    }
                    body(i, deltas, nonzero, c)
                }
            }
        }
    }

    /// `z = δ·nz`: the delta, or ±0 where it does not count.
    @inline(__always) func masked(_ delta: Float, _ nonzero: Bool) -> Float { delta * (nonzero ? 1 : 0) }

    /// `z·[c = 1]` (exact).
    @inline(__always) func unique(_ z: Float, _ c: Int) -> Float { z * (c == 1 ? 1 : 0) }

    /// `z·[c > 1] / max(c, 1)`, rounded to D.
    @inline(__always) func shared(_ z: Float, _ c: Int) -> Float {
        Rounding.round(z * (c > 1 ? 1 : 0) / Float(max(c, 1)), to: compute)
    }
}
