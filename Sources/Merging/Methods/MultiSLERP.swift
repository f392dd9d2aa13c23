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
    /// Tensors up to this many elements are merged in torch's reduction order (`mergeInTorchOrder`).
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: TorchSum.singleChunk) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    /// eps (1e-8) is 0 in float16: then a zero task vector divides 0 by 0 and its tensor comes
    /// out NaN — mergekit 0.1.5 does the same (its q/k-norm tensors often equal the base's).
    public func warnings(_ tasks: [TensorTask]) -> [String] {
        guard let task = tasks.first(where: { $0.computeDType == .f16 && $0.baseIndex != nil }) else { return [] }
        let eps = task.number("eps") ?? 1e-8
        guard Rounding.round(Float(eps), to: .f16) == 0 else { return [] }
        return ["multislerp: eps \(eps) is 0 in float16, so a tensor whose task vectors are all zero (every model equal to the base there) comes out NaN, as in mergekit 0.1.5; merge in bfloat16 or float32, or set eps to 6e-8 or more"]
    }

    /// The per-element terms of the formula, recomputed from a block's inputs in every pass.
    struct Terms {
        let others: [Int]
        let base: Int?
        let d: DType
        let w: [Float]
        /// ρᵢ + ε per model (after pass 1).
        var denominators: [Float] = []
        /// ‖m‖ (after pass 2) and ⟨Uᵢ, m̂⟩ (after pass 3).
        var meanNorm: Float = 1
        var dots: [Float] = []

        @inline(__always) func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        @inline(__always) func z(_ x: [UnsafeMutablePointer<Float>], _ i: Int, _ e: Int) -> Float {
            if let b = base { return r(x[others[i]][e] - x[b][e]) }
            return x[others[i]][e]
        }
        @inline(__always) func unit(_ x: [UnsafeMutablePointer<Float>], _ i: Int, _ e: Int) -> Float { r(z(x, i, e) / denominators[i]) }
        /// m = Σ wᵢUᵢ: each product rounded, summed in float32 in model order and rounded once
        /// (torch's `sum(0)` accumulates reduced dtypes in float32).
        @inline(__always) func mean(_ x: [UnsafeMutablePointer<Float>], _ e: Int) -> Float {
            var s: Float = 0  // from +0, as torch: all −0 terms sum to +0
            for i in others.indices { s += r(unit(x, i, e) * w[i]) }
            return r(s)
        }
        @inline(__always) func direction(_ x: [UnsafeMutablePointer<Float>], _ e: Int) -> Float { r(mean(x, e) / meanNorm) }
        /// τ = Σ wᵢ(Uᵢ − ⟨Uᵢ, m̂⟩m̂), with m̂ at the element given; summed like `mean`.
        @inline(__always) func tangent(_ x: [UnsafeMutablePointer<Float>], _ e: Int, _ m: Float) -> Float {
            var s: Float = 0
            for i in others.indices { s += r(r(unit(x, i, e) - r(dots[i] * m)) * w[i]) }
            return r(s)
        }
    }

    /// Tensors torch reduces in one chunk (≤ `TorchSum.singleChunk` elements) are merged in memory
    /// with torch's reduction orders — norms as `TorchNorm`, the dots as `TorchSum.cascade` (8 lanes),
    /// the sums over models in float32 from +0 — which makes them bit-exact with mergekit in every
    /// dtype. Larger tensors stream (below), with their norms and dots summed in Double: there torch
    /// splits the dots across its threads, so its own bytes depend on its thread count.
    ///
    /// Streams: pass 1 sums ‖Zᵢ‖², pass 2 ‖m‖², pass 3 ⟨Uᵢ, m̂⟩, pass 4 ‖τ‖², then the result;
    /// each pass recomputes its terms from the inputs (no tensor is held).
    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let others = task.nonBase
        if others.count == 1 {
            try io.copyInput(others[0])
            return
        }
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let eps = Float(task.number("eps") ?? 1e-8)
        var w = others.map { Rounding.round(task.number("weight", input: $0) ?? 0, to: d) }
        if task.flag("normalize_weights") {
            let total = r(w.dropFirst().reduce(w[0], +))
            w = w.map { r($0 / total) }
        }
        if task.count <= torchOrderLimit {
            try Self.mergeInTorchOrder(task, io, w: w, eps: eps)
            return
        }
        let m = others.count
        var terms = Terms(others: others, base: task.baseIndex, d: d, w: w)
        let squares = try io.reduce(.whole, width: m) { [terms] block, sums in
            for i in 0..<m {
                var s = 0.0
                for e in 0..<block.count { let v = Double(terms.z(block.inputs, i, e)); s += v * v }
                sums.add(0, i, s)
            }
        }
        let rho = squares.map { r(Float($0.squareRoot())) }
        terms.denominators = rho.map { r($0 + eps) }
        let meanSquares = try io.reduce(.whole, width: 1) { [terms] block, sums in
            var s = 0.0
            for e in 0..<block.count { let v = Double(terms.mean(block.inputs, e)); s += v * v }
            sums.add(0, 0, s)
        }
        let meanNorm = r(Float(meanSquares[0].squareRoot()))
        if meanNorm < eps {
            guard m == 2 else {
                throw MergeError.input("tensor \(task.outputName): multislerp's weighted sum of the inputs is zero (antipodal inputs with balancing weights)")
            }
            try io.elementwise { [terms] block in
                for e in 0..<block.count {
                    var v = terms.r(terms.r(terms.z(block.inputs, 0, e) * w[0]) + terms.r(terms.z(block.inputs, 1, e) * w[1]))
                    if let b = terms.base { v = terms.r(v + block.inputs[b][e]) }
                    block.out[e] = v
                }
            }
            return
        }
        terms.meanNorm = meanNorm
        let dots = try io.reduce(.whole, width: m) { [terms] block, sums in
            for e in 0..<block.count {
                let mh = terms.direction(block.inputs, e)
                for i in 0..<m { sums.add(0, i, Double(terms.r(terms.unit(block.inputs, i, e) * mh))) }
            }
        }
        terms.dots = dots.map { r(Float($0)) }
        let tangentSquares = try io.reduce(.whole, width: 1) { [terms] block, sums in
            var s = 0.0
            for e in 0..<block.count {
                let v = Double(terms.tangent(block.inputs, e, terms.direction(block.inputs, e)))
                s += v * v
            }
            sums.add(0, 0, s)
        }
        let s = r(r(Float(tangentSquares[0].squareRoot())) + eps)
        let cosS = r(cosf(s)), sinOverS = r(r(sinf(s)) / s)
        let average = r(rho.indices.reduce(Float(0)) { $0 + r(rho[$1] * w[$1]) })
        try io.elementwise { [terms] block in
            for e in 0..<block.count {
                let mh = terms.direction(block.inputs, e)
                var v = terms.r(terms.r(terms.r(mh * cosS) + terms.r(terms.tangent(block.inputs, e, mh) * sinOverS)) * average)
                if let b = terms.base { v = terms.r(v + block.inputs[b][e]) }
                block.out[e] = v
            }
        }
    }

    static func mergeInTorchOrder(_ task: TensorTask, _ io: TensorIO, w: [Float], eps: Float) throws {
        let d = task.computeDType
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        let n = task.count, m = task.nonBase.count
        func norm(_ v: [Float]) -> Float { r(TorchNorm.l2(count: n, dtype: d) { v[$0] }) }
        let x = try io.gather()
        let b = task.baseIndex.map { x[$0] }
        let z = io.taskVectors(x, task.nonBase, base: task.baseIndex)
        let rho = z.map(norm)
        let units: [[Float]] = (0..<m).map { i in
            let denominator = r(rho[i] + eps)
            return z[i].map { r($0 / denominator) }
        }
        /// Σᵢ termᵢ(e) over the models: float32 from +0, rounded once (torch's `sum(0)`).
        func overModels(_ term: (Int, Int) -> Float) -> [Float] {
            (0..<n).map { e in
                var s: Float = 0
                for i in 0..<m { s += term(i, e) }
                return r(s)
            }
        }
        var result: [Float]
        let mean = overModels { i, e in r(units[i][e] * w[i]) }
        let meanNorm = norm(mean)
        if meanNorm < eps {
            guard m == 2 else {
                throw MergeError.input("tensor \(task.outputName): multislerp's weighted sum of the inputs is zero (antipodal inputs with balancing weights)")
            }
            result = (0..<n).map { e in r(r(z[0][e] * w[0]) + r(z[1][e] * w[1])) }
        } else {
            let direction = mean.map { r($0 / meanNorm) }
            let dots = units.map { u in r(TorchSum.cascade(count: n, vectorWidth: 8) { r(u[$0] * direction[$0]) }) }
            let tangent = overModels { i, e in r(r(units[i][e] - r(dots[i] * direction[e])) * w[i]) }
            let s = r(norm(tangent) + eps)
            let cosS = r(cosf(s)), sinOverS = r(r(sinf(s)) / s)
            let average = r(TorchSum.cascade(count: m, vectorWidth: 8) { r(rho[$0] * w[$0]) })
            result = (0..<n).map { e in r(r(r(direction[e] * cosS) + r(tangent[e] * sinOverS)) * average) }
        }
        if let b { result = (0..<n).map { r(result[$0] + b[$0]) } }
        try io.elementwise { block in
            for e in 0..<block.count { block.out[e] = result[block.offset + e] }
        }
    }
}
