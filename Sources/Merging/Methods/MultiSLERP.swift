import Foundation
import Tensors

/// `multislerp` — barycentric interpolation of N models on the hypersphere (mergekit's MultiSLERP):
/// project the unit task vectors onto the tangent space at their weighted mean, average there,
/// map back, and scale by the weighted mean norm.
///
///     Zᵢ = Xᵢ − B (or Xᵢ);  w = w/Σw (normalize_weights);  ρᵢ = ‖Zᵢ‖;  Uᵢ = Zᵢ/(ρᵢ + ε)
///     m = Σ wᵢUᵢ, m̂ = m/‖m‖;  Tᵢ = Uᵢ − ⟨Uᵢ, m̂⟩m̂;  τ = Σ wᵢTᵢ;  s = ‖τ‖ + ε
///     R = (m̂ cos s + τ sin s / s) · Σ wᵢρᵢ  (+ B)
///
/// One model → that model. Every step rounded to the compute dtype.
public struct MultiSLERP: MergeMethod {
    public let name = "multislerp"
    public let parameters: [ParameterSpec] = [
        .number("weight", .perModel, required: true),
        .bool("normalize_weights", default: true),
        .number("eps", .global, default: 1e-8),
    ]
    public let contract = MethodContract(base: .optional, minNonBase: 1)

    public var holdsWholeTensors: Bool { true }

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let others = task.nonBase
        let x = try io.loadWhole()
        if others.count == 1 { try io.writeWhole(x[others[0]]); return }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        func norm(_ v: [Float]) -> Float { r(Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())) }
        let n = task.count
        let eps = Float(task.number("eps") ?? 1e-8)
        let z = others.map { j in task.baseIndex.map { b in (0..<n).map { r(x[j][$0] - x[b][$0]) } } ?? x[j] }
        var w = others.map { Rounding.round(task.number("weight", input: $0) ?? 0, to: d) }
        if task.flag("normalize_weights") {
            let total = r(w.dropFirst().reduce(w[0], +))
            w = w.map { r($0 / total) }
        }
        let rho = z.map(norm)
        let units = z.indices.map { i in z[i].map { r($0 / r(rho[i] + eps)) } }
        func weightedSum(_ vectors: [[Float]]) -> [Float] {
            (0..<n).map { e in
                var s = r(vectors[0][e] * w[0])
                for i in 1..<vectors.count { s = r(s + r(vectors[i][e] * w[i])) }
                return s
            }
        }
        var mean = weightedSum(units)
        let meanNorm = norm(mean)
        if meanNorm < eps {
            guard units.count == 2 else {
                throw MergeError.input("tensor \(task.outputName): multislerp's weighted sum of the inputs is zero (antipodal inputs with balancing weights)")
            }
            var res = (0..<n).map { r(r(z[0][$0] * w[0]) + r(z[1][$0] * w[1])) }
            if let b = task.baseIndex { res = res.indices.map { r(res[$0] + x[b][$0]) } }
            try io.writeWhole(res)
            return
        }
        mean = mean.map { r($0 / meanNorm) }
        let tangents = units.map { u -> [Float] in
            let dot = r(Float(u.indices.reduce(0.0) { $0 + Double(r(u[$1] * mean[$1])) }))
            return u.indices.map { r(u[$0] - r(dot * mean[$0])) }
        }
        let tangent = weightedSum(tangents)
        let s = r(norm(tangent) + eps)
        let cosS = r(cosf(s)), sinOverS = r(r(sinf(s)) / s)
        let average = r(Float(rho.indices.reduce(0.0) { $0 + Double(r(rho[$1] * w[$1])) }))
        var result = (0..<n).map { e in r(r(r(mean[e] * cosS) + r(tangent[e] * sinOverS)) * average) }
        if let b = task.baseIndex { result = result.indices.map { r(result[$0] + x[b][$0]) } }
        try io.writeWhole(result)
    }
}
