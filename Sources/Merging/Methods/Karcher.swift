import Foundation
import Tensors

/// `karcher` — the Karcher (Riemannian) mean of all inputs on the unit sphere, rescaled by their mean
/// norm (mergekit's "Karcher Mean"). The base, if given, is an ordinary input; weights are equal.
///
///     Uᵢ = Yᵢ/‖Yᵢ‖;  u = normalise(Σ αᵢUᵢ);  repeat max_iter times:
///         T = Σ αᵢ θᵢ/sin θᵢ · (Uᵢ − cos θᵢ·u),  θᵢ = acos⟨u, Uᵢ⟩ (skipped when θᵢ < tol)
///         stop if ‖T‖ < tol;  u = normalise(cos‖T‖·u + sin‖T‖·T/‖T‖)
///     R = (Σ αᵢ‖Yᵢ‖)·u
///
/// Norms in float32 (Double here), everything else in the compute dtype with mergekit 0.1.5's roundings.
public struct Karcher: MergeMethod {
    public let name = "karcher"
    public let parameters: [ParameterSpec] = [.number("max_iter", .global, default: 10), .number("tol", .global, default: 1e-5)]
    public let contract = MethodContract(base: .ordinaryInput, minNonBase: 1)

    public var holdsWholeTensors: Bool { true }

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let y = try io.loadWhole()
        if y.count == 1 { try io.writeWhole(y[0]); return }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        func norm(_ v: [Float]) -> Float { Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()) }
        let n = task.count
        let tol = Float(task.number("tol") ?? 1e-5), maxIter = Int(task.number("max_iter") ?? 10)
        let alphas = [Float](repeating: Float(1.0 / Double(y.count)), count: y.count)
        let norms = y.map(norm)
        let units = y.indices.map { i in norms[i] == 0 ? [Float](repeating: 0, count: n) : y[i].map { r($0 / norms[i]) } }
        let valid = norms.indices.filter { norms[$0] > tol }
        guard !valid.isEmpty else { try io.writeWhole([Float](repeating: 0, count: n)); return }
        let alphaSum = valid.reduce(0.0) { $0 + Double(alphas[$1]) }
        let weights = valid.map { Float(Double(alphas[$0]) / alphaSum) }
        var mean = [Float](repeating: 0, count: n)
        for (k, i) in valid.enumerated() { for e in 0..<n { mean[e] = r(mean[e] + r(weights[k] * units[i][e])) } }
        let meanNorm = norm(mean)
        mean = meanNorm < tol ? units[valid[0]] : mean.map { r($0 / meanNorm) }
        for _ in 0..<maxIter {
            var tangent = [Float](repeating: 0, count: n)
            for (k, i) in valid.enumerated() {
                let dot = min(1, max(-1, r(Float((0..<n).reduce(0.0) { $0 + Double(mean[$1]) * Double(units[i][$1]) }))))
                let theta = r(acosf(dot))
                if theta < tol { continue }
                let coefficient = r(weights[k] * r(theta / r(sinf(theta))))
                for e in 0..<n { tangent[e] = r(tangent[e] + r(coefficient * r(units[i][e] - r(dot * mean[e])))) }
            }
            let tangentNorm = norm(tangent)
            if tangentNorm < tol { break }
            let c = cosf(tangentNorm), s = sinf(tangentNorm)
            mean = (0..<n).map { r(r(c * mean[$0]) + r(s * r(tangent[$0] / tangentNorm))) }
            let unitNorm = norm(mean)
            if unitNorm > tol { mean = mean.map { r($0 / unitNorm) } }
        }
        let scale = zip(alphas, norms).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        try io.writeWhole(mean.map { r(scale * $0) })
    }
}
