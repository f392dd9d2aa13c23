import Foundation
import Tensors

/// `slerp` — spherical linear interpolation between the base `a` and one other model `b`
/// (Shoemake 1985), the whole tensor treated as one vector:
///
///     d = ⟨a/‖a‖, b/‖b‖⟩ clamped to [−1, 1];  θ = acos d
///     R = sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b      if |d| ≤ 0.9995
///     R = (1−t)·a + t·b                                   otherwise (nearly (anti)parallel)
///
/// Numerics of mergekit 0.1.5: everything in float32 on the compute-dtype inputs; norms ≤ 1e-8
/// count as 1 (so a zero side gives `sin(tπ/2)·other`); the combination uses the unnormalised
/// inputs; rounded once to the compute dtype. Tensors of ≤ `TorchSum.singleChunk` elements take
/// the norms and dot in torch's order (`torchOrderDot`); larger ones accumulate them in Double
/// (torch splits those sums across its threads there).
public struct SLERP: MergeMethod {
    public let name = "slerp"
    public let parameters: [ParameterSpec] = [.number("t", .global, required: true)]
    public let contract = MethodContract(base: .required, minNonBase: 1, maxNonBase: 1)

    /// Tensors up to this many elements take the norms and dot in torch's order (`torchOrderDot`).
    let torchOrderLimit: Int

    public init() { self.init(torchOrderLimit: TorchSum.singleChunk) }
    init(torchOrderLimit: Int) { self.torchOrderLimit = torchOrderLimit }

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        guard let b = task.nonBase.first, let a = task.baseIndex else {
            // Only one model has this (optional) tensor: pass it through.
            try io.copyInput(0)
            return
        }
        let t = Float(task.number("t") ?? 0)
        if let kernel = try storedKernel(task, io, PassCache()) {
            try io.elementwiseStored(kernel)
            return
        }
        let dot = try torchOrderDot(task, io, a, b) ?? {
            let sums = try io.reduce(.whole, width: 3) { block, acc in
                acc.add(0, 0, Kernels.sumOfSquares(block.inputs[a], count: block.count))
                acc.add(0, 1, Kernels.sumOfSquares(block.inputs[b], count: block.count))
                acc.add(0, 2, Kernels.dot(block.inputs[a], block.inputs[b], count: block.count))
            }
            return Self.cosine(sumA2: sums[0], sumB2: sums[1], dotAB: sums[2])
        }()
        let (ca, cb) = Self.coefficients(t: t, dot: dot)
        try io.elementwise { block in
            Kernels.combine(ca, block.inputs[a], cb, block.inputs[b], into: block.out, count: block.count)
        }
    }

    /// Inputs stored in the compute dtype: one pass for the norms and the dot product (the same for
    /// every `t`, so variants of a sweep share it), then the fused interpolation.
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        guard let b = task.nonBase.first, let a = task.baseIndex, io.inputsInComputeDType else { return nil }
        let d = task.computeDType, out = task.outDType
        let dot = try cache.value("slerp cosine \(d)") {
            if let dot = try torchOrderDot(task, io, a, b) { return dot }
            let sums = try io.reduceStored(width: 3) { inputs, n in
                let s = Fused.slerpSums(inputs[a], inputs[b], d, count: n)
                return [s.0, s.1, s.2]
            }
            return Self.cosine(sumA2: sums[0], sumB2: sums[1], dotAB: sums[2])
        }
        let (ca, cb) = Self.coefficients(t: Float(task.number("t") ?? 0), dot: dot)
        return { inputs, _, dst, _, n, _ in
            Fused.combine(ca, inputs[a], cb, inputs[b], compute: d, out: out, into: dst, count: n)
        }
    }

    /// ⟨a/‖a‖, b/‖b‖⟩ from sums in Double (tensors above `TorchSum.singleChunk`).
    static func cosine(sumA2: Double, sumB2: Double, dotAB: Double) -> Float {
        var na = Float(sumA2.squareRoot()), nb = Float(sumB2.squareRoot())
        if !(na > 1e-8) { na = 1 }
        if !(nb > 1e-8) { nb = 1 }
        return Float(dotAB / (Double(na) * Double(nb)))
    }

    /// ⟨a/‖a‖, b/‖b‖⟩ as mergekit's chunked float32 code gets it, for tensors torch reduces in one
    /// chunk (≤ `TorchSum.singleChunk` elements; nil for larger ones): each norm is `vector_norm`
    /// of the row (`TorchNorm`), then `vector_norm` of the stacked one-chunk norm (√(n·n), not
    /// always n); the dot sums the rounded products of the divided rows (`TorchSum.cascade`).
    func torchOrderDot(_ task: TensorTask, _ io: TensorIO, _ a: Int, _ b: Int) throws -> Float? {
        guard task.count <= torchOrderLimit else { return nil }
        let x = try io.gather()
        let n = task.count
        func norm(_ v: [Float]) -> Float {
            let chunk = TorchNorm.l2(count: n, dtype: .f32) { v[$0] }
            let whole = (chunk * chunk).squareRoot()
            return whole > 1e-8 ? whole : 1
        }
        let na = norm(x[a]), nb = norm(x[b])
        return TorchSum.cascade(count: n, vectorWidth: 8) { (x[a][$0] / na) * (x[b][$0] / nb) }
    }

    /// The two interpolation coefficients, computed in float32 as mergekit does (acos and sin are
    /// MKL's there, glibc's here: they differ in the last bit for a few % of arguments).
    static func coefficients(t: Float, dot cosine: Float) -> (Float, Float) {
        let dot = min(1, max(-1, cosine))
        if abs(dot) > 0.9995 { return (1 - t, t) }
        let theta = acosf(dot)
        let s = sinf(theta)
        return (sinf((1 - t) * theta) / s, sinf(t * theta) / s)
    }
}
