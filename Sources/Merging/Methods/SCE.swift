import Foundation
import Tensors

/// `sce` — Select, Calculate, Erase (FuseChat 2.0, Wan et al. 2024, arXiv:2408.07990): keep the
/// elements whose task vectors vary most across models, weight each model by the mean square of its
/// task vector, erase deltas against the elected sign, and average.
///
///     Δᵢ = Xᵢ − B;  select_topk τ < 1: keep the ⌊τ·#{Var ≠ 0}⌋ elements of largest Varᵢ(Δᵢ)
///     cᵢ = mean(Δᵢ²) / Σⱼ mean(Δⱼ²)   (uniform when the sum is < 1e-6)
///     Mᵢ = [sign Δᵢ = sign ΣⱼΔⱼ];  R = B + Σ cᵢMᵢΔᵢ / max(Σ cᵢMᵢ, 1e-6)
///
/// No per-model weights. Every step rounded to the compute dtype. Among equal variances the lower
/// flat index is kept first.
public struct SCE: MergeMethod {
    public let name = "sce"
    public let parameters: [ParameterSpec] = [.number("select_topk", .global, default: 1), .bool("int8_mask", default: false)]
    public let contract = MethodContract(base: .required)

    public var holdsWholeTensors: Bool { true }

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let x = try io.loadWhole()
        let others = task.nonBase
        guard !others.isEmpty else { try io.writeWhole(x[b]); return }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count, m = others.count
        var tvs = others.map { j in (0..<n).map { r(x[j][$0] - x[b][$0]) } }
        let topk = task.number("select_topk") ?? 1
        if topk < 1 {
            var keep = [Bool](repeating: false, count: n)
            if topk > 0 {
                let variance = (0..<n).map { e -> Float in
                    let mean = tvs.reduce(0.0) { $0 + Double($1[e]) } / Double(m)
                    return r(Float(tvs.reduce(0.0) { $0 + (Double($1[e]) - mean) * (Double($1[e]) - mean) } / Double(m)))
                }
                let nonzero = variance.filter { $0 != 0 }.count
                let k = Int(Double(nonzero) * topk)
                let order = (0..<n).sorted { abs(variance[$0]) > abs(variance[$1]) || (abs(variance[$0]) == abs(variance[$1]) && $0 < $1) }
                for e in order.prefix(k) { keep[e] = true }
            }
            tvs = tvs.map { tv in tv.indices.map { keep[$0] ? tv[$0] : 0 } }
        }
        var weights = tvs.map { tv in r(Float(tv.reduce(0.0) { $0 + Double(r($1 * $1)) } / Double(n))) }
        let weightSum = weights.reduce(0.0) { $0 + Double($1) }
        weights = abs(weightSum) < 1e-6
            ? [Float](repeating: r(1 / Float(m)), count: m)
            : weights.map { r($0 / r(Float(weightSum))) }
        let tiny = r(1e-6)
        var out = [Float](repeating: 0, count: n)
        for e in 0..<n {
            var total = tvs[0][e]
            for i in 1..<m { total += tvs[i][e] }
            let positive = r(total) >= 0
            var merged: Float = 0, weightTotal: Float = 0
            for i in 0..<m {
                let v = tvs[i][e]
                let w: Float = (positive ? v > 0 : v < 0) ? weights[i] : 0
                let contribution = r(v * w)
                if i == 0 { merged = contribution; weightTotal = w } else { merged += contribution; weightTotal += w }
            }
            out[e] = r(x[b][e] + r(r(merged) / max(r(weightTotal), tiny)))
        }
        try io.writeWhole(out)
    }
}
