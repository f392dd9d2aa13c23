import Tensors

/// `ramplus_tl` — RAM+ with tensor-local rescaling (arXiv:2601.13572): like `ram`, but each model's
/// unique contributions are scaled up by how much of what it changed it shares with others:
///
///     ρᵢ = #(nzᵢ ∧ c > 1) / max(#(nzᵢ ∧ c = 1), ε)   (counts over the tensor)
///     λᵢ = 1 + r·clamp(ρᵢ, 0, α)
///     R = B + Σᵢ [c = 1]·nzᵢ·δᵢ·λᵢ + [c > 1]·nzᵢ·δᵢ / c
///
/// Numerics of mergekit 0.1.5: as `ram` up to the shared part (rounded to the compute dtype D);
/// ρ and λ are float32 (the counts' clamp with a float ε makes them float32), so the unique part
/// `z·λ`, the per-model sum, the sum over models and `B + sum` are float32 — the result is float32
/// whatever D is (mergekit writes float32 tensors unless `out_dtype` says otherwise).
/// Two passes: the counts, then the merge.
public struct RAMPlusTL: MergeMethod {
    public let name = "ramplus_tl"
    public let parameters: [ParameterSpec] = [
        .number("r", .global, default: 0.1),
        .number("alpha", .global, default: 0.2),
        .number("epsilon", .global, default: 1e-5),
    ]
    public let contract = MethodContract(base: .required)

    public init() {}

    public func resultDType(compute: DType) -> DType { .f32 }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let others = task.nonBase
        guard !others.isEmpty else {
            try io.copyInput(b, roundingTo: .f32)
            return
        }
        let epsilon = task.number("epsilon") ?? 1e-5
        let contributions = RAMContributions(epsilon: epsilon, compute: task.computeDType, models: others.count)
        let m = others.count
        // Pass 1: per model, elements it changed that others changed too, and that only it changed.
        let counts = try io.reduce(.whole, width: 2 * m) { block, sums in
            var local = [Int](repeating: 0, count: 2 * m)
            contributions.forEachElement(block, base: b, models: others) { _, _, nonzero, c in
                for k in 0..<m where nonzero[k] {
                    if c > 1 { local[2 * k] += 1 } else if c == 1 { local[2 * k + 1] += 1 }
                }
            }
            for (slot, v) in local.enumerated() { sums.add(0, slot, Double(v)) }
        }
        let r = Float(task.number("r") ?? 0.1), alpha = Float(task.number("alpha") ?? 0.2)
        let lambdas: [Float] = (0..<m).map { k in
            let shared = Float(Int(counts[2 * k])), unique = max(Float(Int(counts[2 * k + 1])), Float(epsilon))
            let rho = shared / unique
            return 1 + r * min(max(rho, 0), alpha)
        }
        try io.elementwise(roundingTo: .f32) { block in
            contributions.forEachElement(block, base: b, models: others) { i, deltas, nonzero, c in
                var sum: Float = 0
                for (k, delta) in deltas.enumerated() {
                    let z = contributions.masked(delta, nonzero[k])
                    sum += contributions.unique(z, c) * lambdas[k] + contributions.shared(z, c)
                }
                block.out[i] = block.inputs[b][i] + sum
            }
        }
    }
}
