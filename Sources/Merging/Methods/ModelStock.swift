import Foundation
import Tensors

/// `model_stock` — Model Stock (Jang et al. 2024, arXiv:2403.19522): interpolate between the base and
/// the average of N ≥ 2 fine-tunes by a ratio set from the angle between their task vectors.
///
///     dᵢ = wᵢ − w₀;  cos = mean over pairs of ⟨dᵢ, dⱼ⟩ / max(‖dᵢ‖‖dⱼ‖, 1e-6)  (clamped to [−1, 1])
///     t = N·cos / (1 + (N−1)·cos)   (t = 0 where |1 + (N−1)·cos| < 1e-6)
///     R = t·mean(wᵢ) + (1 − t)·w₀
///
/// Whole tensor as one vector, or per row (last axis) with `filter_wise`. Every step rounded to the
/// compute dtype (mergekit 0.1.5 does not upcast). Only the base present → the base.
public struct ModelStock: MergeMethod {
    public let name = "model_stock"
    public let parameters: [ParameterSpec] = [.bool("filter_wise", default: false)]
    public let contract = MethodContract(base: .required, minNonBase: 2)

    public var holdsWholeTensors: Bool { true }

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.baseIndex else { preconditionFailure("planner guarantees a base") }
        let others = task.nonBase
        let x = try io.loadWhole()
        guard others.count >= 2 else {
            try io.writeWhole(x[others.first ?? b])  // too few inputs for this tensor: nothing to average
            return
        }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count
        let rowLength = task.flag("filter_wise") ? (task.shape.last ?? n) : n
        let rows = rowLength == 0 ? 0 : n / rowLength
        let w0 = x[b]
        let offsets = others.map { j in (0..<n).map { r(x[j][$0] - w0[$0]) } }
        let count = others.count
        var out = [Float](repeating: 0, count: n)
        let tiny = r(1e-6)
        for row in 0..<rows {
            let range = (row * rowLength)..<((row + 1) * rowLength)
            let norms = offsets.map { o in r(Float(range.reduce(0.0) { $0 + Double(o[$1]) * Double(o[$1]) }.squareRoot())) }
            var cosines: [Float] = []
            for a in 0..<count {
                for c in (a + 1)..<count {
                    let product = max(r(norms[a] * norms[c]), tiny)
                    let dot = r(Float(range.reduce(0.0) { $0 + Double(r(offsets[a][$1] * offsets[c][$1])) }))
                    cosines.append(min(1, max(-1, r(dot / product))))
                }
            }
            let cos = r(Float(cosines.reduce(0.0) { $0 + Double($1) } / Double(cosines.count)))
            let denominator = r(1 + r(Float(count - 1) * cos))
            let t: Float = abs(denominator) < 1e-6 ? 0 : r(r(Float(count) * cos) / denominator)
            let oneMinusT = r(1 - t)
            for e in range {
                var sum = x[others[0]][e]
                for j in others.dropFirst() { sum = r(sum + x[j][e]) }
                let average = r(sum / Float(count))
                out[e] = r(r(t * average) + r(oneMinusT * w0[e]))
            }
        }
        try io.writeWhole(out)
    }
}
