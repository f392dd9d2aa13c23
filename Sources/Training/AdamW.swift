import Foundation
import Tensors

/// `torch.optim.AdamW` (single-tensor path, as on the CPU), over float32 parameters.
///
/// Per parameter p with gradient g at step k (1-based) and learning rate lr:
/// `p ← p·(1 − lr·wd)`; `m ← m + (1 − β₁)(g − m)` (torch's `lerp`); `v ← β₂·v + (1 − β₂)·g²`;
/// `p ← p − (lr / (1 − β₁ᵏ)) · m / (√v / √(1 − β₂ᵏ) + ε)`. Scalars are computed in double precision and
/// used as float32, as torch passes Python floats to its float32 kernels.
public struct AdamW: Sendable, Codable, Equatable {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    /// Optimizer steps taken so far.
    public private(set) var step = 0
    /// First and second moments, one array per parameter (index-aligned with the parameters).
    public private(set) var m: [[Float]] = []
    public private(set) var v: [[Float]] = []

    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// An optimizer continuing from a saved state: `step` steps taken, moments `m` and `v`.
    public init(restoring settings: AdamW, step: Int, m: [[Float]], v: [[Float]]) {
        self = settings
        self.step = step
        self.m = m
        self.v = v
    }

    /// One step over parameters and gradients held in `FloatTensors` (same arithmetic as the array form).
    public mutating func update(_ parameters: FloatTensors, gradients: FloatTensors, lr: Double, decays: [Bool]? = nil) {
        precondition(parameters.counts == gradients.counts, "one gradient per parameter")
        let c = begin(counts: parameters.counts, lr: lr)
        for i in 0..<parameters.count {
            let decay = (decays?[i] ?? true) && weightDecay != 0
            let p = parameters.pointer(i), g = UnsafePointer(gradients.pointer(i))
            m[i].withUnsafeMutableBufferPointer { m in
                v[i].withUnsafeMutableBufferPointer { v in
                    guard let mp = m.baseAddress, let vp = v.baseAddress else { return }
                    Self.apply(c, p, g, mp, vp, count: m.count, decay: decay)
                }
            }
        }
    }

    /// One step over every parameter; `decays[i]` says whether parameter i takes weight decay (the HF
    /// Trainer's grouping exempts biases and norm weights; torch's own default is one group: all).
    public mutating func update(_ parameters: inout [[Float]], gradients: [[Float]], lr: Double, decays: [Bool]? = nil) {
        precondition(parameters.count == gradients.count, "one gradient per parameter")
        let c = begin(counts: parameters.map(\.count), lr: lr)
        for i in parameters.indices {
            let decay = (decays?[i] ?? true) && weightDecay != 0
            parameters[i].withUnsafeMutableBufferPointer { p in
                m[i].withUnsafeMutableBufferPointer { m in
                    v[i].withUnsafeMutableBufferPointer { v in
                        gradients[i].withUnsafeBufferPointer { g in
                            guard let pp = p.baseAddress, let gp = g.baseAddress, let mp = m.baseAddress, let vp = v.baseAddress
                            else { return }
                            Self.apply(c, pp, gp, mp, vp, count: p.count, decay: decay)
                        }
                    }
                }
            }
        }
    }

    /// The scalars of one step, computed in double precision and used as float32 (as torch does).
    struct StepConstants {
        var stepSize, bc2Sqrt, oneMinusBeta1, beta2, oneMinusBeta2, eps, shrink: Float
    }

    /// Counts the step (creating the moments at the first) and returns its scalars.
    mutating func begin(counts: [Int], lr: Double) -> StepConstants {
        if m.isEmpty {
            m = counts.map { [Float](repeating: 0, count: $0) }
            v = m
        }
        step += 1
        let k = Double(step)
        return StepConstants(
            stepSize: Float(lr / (1 - pow(beta1, k))), bc2Sqrt: Float(sqrt(1 - pow(beta2, k))),
            oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2), eps: Float(eps),
            shrink: Float(1 - lr * weightDecay))
    }

    /// torch's single-tensor AdamW update of one parameter.
    static func apply(
        _ c: StepConstants, _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>, count: Int, decay: Bool
    ) {
        for j in 0..<count {
            if decay { p[j] *= c.shrink }
            m[j] += c.oneMinusBeta1 * (g[j] - m[j])
            v[j] = v[j] * c.beta2 + c.oneMinusBeta2 * g[j] * g[j]
            let denom = v[j].squareRoot() / c.bc2Sqrt + c.eps
            p[j] -= c.stepSize * (m[j] / denom)
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_`: the global 2-norm over every gradient (each tensor's norm, then
/// the norm of those), and every gradient scaled by `min(1, maxNorm / (norm + 1e-6))`.
public enum GradientClipping {
    /// The same over `FloatTensors`.
    @discardableResult
    public static func clip(_ gradients: FloatTensors, maxNorm: Double) -> Double {
        var total = 0.0
        for i in 0..<gradients.count {
            var s = 0.0
            for x in gradients[i] { s += Double(x) * Double(x) }
            total += s
        }
        let norm = Float(total.squareRoot())
        guard maxNorm > 0 else { return Double(norm) }
        let coefficient = Float(maxNorm) / (norm + 1e-6)
        if coefficient < 1 { gradients.scale(by: coefficient) }
        return Double(norm)
    }

    /// Returns the norm before clipping.
    @discardableResult
    public static func clip(_ gradients: inout [[Float]], maxNorm: Double) -> Double {
        let tensors = FloatTensors(gradients)
        let norm = clip(tensors, maxNorm: maxNorm)
        gradients = tensors.arrays
        return norm
    }
}
