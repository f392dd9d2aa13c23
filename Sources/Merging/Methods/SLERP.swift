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
/// inputs; rounded once to the compute dtype. Norms and the dot product are accumulated in Double
/// here (mergekit: float32 chunks), which the fixtures' tolerance for slerp allows.
public struct SLERP: MergeMethod {
    public let name = "slerp"
    public let parameters: [ParameterSpec] = [.number("t", .global, required: true)]
    public let contract = MethodContract(base: .required, minNonBase: 1, maxNonBase: 1)

    public init() {}

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
        let sums = try io.reduce(.whole, width: 3) { block, acc in
            acc.add(0, 0, Kernels.sumOfSquares(block.inputs[a], count: block.count))
            acc.add(0, 1, Kernels.sumOfSquares(block.inputs[b], count: block.count))
            acc.add(0, 2, Kernels.dot(block.inputs[a], block.inputs[b], count: block.count))
        }
        let (ca, cb) = Self.coefficients(t: t, sumA2: sums[0], sumB2: sums[1], dotAB: sums[2])
        try io.elementwise { block in
            Kernels.combine(ca, block.inputs[a], cb, block.inputs[b], into: block.out, count: block.count)
        }
    }

    /// Inputs stored in the compute dtype: one pass for the norms and the dot product (the same for
    /// every `t`, so variants of a sweep share it), then the fused interpolation.
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        guard let b = task.nonBase.first, let a = task.baseIndex, io.inputsInComputeDType else { return nil }
        let d = task.computeDType, out = task.outDType
        let sums = try cache.value("slerp sums \(d)") {
            try io.reduceStored(width: 3) { inputs, n in
                let s = Fused.slerpSums(inputs[a], inputs[b], d, count: n)
                return [s.0, s.1, s.2]
            }
        }
        let (ca, cb) = Self.coefficients(t: Float(task.number("t") ?? 0), sumA2: sums[0], sumB2: sums[1], dotAB: sums[2])
        return { inputs, _, dst, _, n, _ in
            Fused.combine(ca, inputs[a], cb, inputs[b], compute: d, out: out, into: dst, count: n)
        }
    }

    /// The two interpolation coefficients, computed in float32 as mergekit does.
    static func coefficients(t: Float, sumA2: Double, sumB2: Double, dotAB: Double) -> (Float, Float) {
        var na = Float(sumA2.squareRoot()), nb = Float(sumB2.squareRoot())
        if !(na > 1e-8) { na = 1 }
        if !(nb > 1e-8) { nb = 1 }
        let dot = min(1, max(-1, Float(dotAB / (Double(na) * Double(nb)))))
        if abs(dot) > 0.9995 { return (1 - t, t) }
        let theta = acosf(dot)
        let s = sinf(theta)
        return (sinf((1 - t) * theta) / s, sinf(t * theta) / s)
    }
}
