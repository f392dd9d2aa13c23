import Foundation

/// The backward halves of `LayerKernels` and the layout helpers the backward pass needs: each
/// takes the forward's input (not its output) and the gradient of the output, and matches
/// PyTorch's autograd formulas in float32 (sums over a row accumulated in Double).
public enum TrainingKernels {
    /// `out[c, r] = x[r, c]` for a row-major `[rows, cols]` matrix, in 32×32 tiles, split over
    /// threads by tile rows.
    public static func transpose(
        _ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, threads: Int = 1
    ) {
        let tile = 32
        let tileRows = (rows + tile - 1) / tile
        let workers = rows * cols < 1 << 16 ? 1 : threads
        let shared = UncheckedBox((x, out))
        ParallelFor.run(count: tileRows, threads: workers) { tr in
            let (x, out) = shared.value
            let r0 = tr * tile, r1 = min(rows, r0 + tile)
            var c0 = 0
            while c0 < cols {
                let c1 = min(cols, c0 + tile)
                for r in r0..<r1 {
                    let src = x + r * cols
                    for c in c0..<c1 { out[c * rows + r] = src[c] }
                }
                c0 = c1
            }
        }
    }

    /// `dx` of RMSNorm `y = x · r · s` (`r = 1/√(mean x² + eps)`, `s = weight` or `1 + weight`), and
    /// `dWeight += dy · x · r`. `dx` may alias `dy`.
    public static func rmsNormBackward(
        _ x: UnsafePointer<Float>, count n: Int, weight: UnsafePointer<Float>, eps: Float, unitOffset: Bool,
        dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>
    ) {
        let r = LayerKernels.rmsScale(x, count: n, eps: eps)
        var dot: Double = 0
        for i in 0..<n {
            let scale = unitOffset ? 1 + weight[i] : weight[i]
            let xhat = x[i] * r
            dWeight[i] += dy[i] * xhat
            dot += Double(dy[i] * scale) * Double(xhat)
        }
        let mean = Float(dot / Double(n))
        for i in 0..<n {
            let scale = unitOffset ? 1 + weight[i] : weight[i]
            dx[i] = r * (dy[i] * scale - x[i] * r * mean)
        }
    }

    /// `dx` of LayerNorm without bias `y = (x − μ) · r · w`, and `dWeight += dy · (x − μ) · r`. `dx`
    /// may alias `dy`.
    public static func layerNormBackward(
        _ x: UnsafePointer<Float>, count n: Int, weight: UnsafePointer<Float>, eps: Float,
        dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>
    ) {
        let (mu, r) = LayerKernels.layerNormStats(x, count: n, eps: eps)
        var sumG: Double = 0, sumGX: Double = 0
        for i in 0..<n {
            let xhat = (x[i] - mu) * r
            dWeight[i] += dy[i] * xhat
            let g = dy[i] * weight[i]
            sumG += Double(g)
            sumGX += Double(g) * Double(xhat)
        }
        let meanG = Float(sumG / Double(n)), meanGX = Float(sumGX / Double(n))
        for i in 0..<n {
            let xhat = (x[i] - mu) * r
            dx[i] = r * (dy[i] * weight[i] - meanG - xhat * meanGX)
        }
    }

    /// The activations of a gated MLP.
    public enum Activation: Sendable { case silu, geluTanh, geluErf }

    /// Forward `a = act(gate) · up` into `out` (gate and up kept for the backward).
    public static func gatedForward(
        _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int, _ act: Activation,
        into out: UnsafeMutablePointer<Float>
    ) {
        switch act {
        case .silu: for i in 0..<count { out[i] = LayerKernels.silu(gate[i]) * up[i] }
        case .geluTanh: for i in 0..<count { out[i] = LayerKernels.geluTanh(gate[i]) * up[i] }
        case .geluErf: for i in 0..<count { out[i] = LayerKernels.geluErf(gate[i]) * up[i] }
        }
    }

    /// From `da` (gradient of `act(gate) · up`): `dGate = da · up · act'(gate)` and `dUp = da · act(gate)`.
    public static func gatedBackward(
        _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int, _ act: Activation,
        da: UnsafePointer<Float>, dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<count {
            let g = gate[i]
            let value: Float, slope: Float
            switch act {
            case .silu:
                let s = 1 / (1 + Foundation.exp(-g))
                value = g * s
                slope = s * (1 + g * (1 - s))
            case .geluTanh:
                let c: Float = 0.7978845608028654, k: Float = 0.044715
                let t = Foundation.tanh(c * (g + k * g * g * g))
                value = 0.5 * g * (1 + t)
                slope = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * c * (1 + 3 * k * g * g)
            case .geluErf:
                let cdf = 0.5 * (1 + Foundation.erf(g * 0.7071067811865476))
                value = g * cdf
                slope = cdf + g * 0.3989422804014327 * Foundation.exp(-0.5 * g * g)
            }
            dUp[i] = da[i] * value
            dGate[i] = da[i] * up[i] * slope
        }
    }

    /// Backward of `y = cap · tanh(x / cap)` given the output `y`: `dx = dy · (1 − (y/cap)²)`, in place.
    public static func softcapBackward(_ y: UnsafePointer<Float>, cap: Float, grad: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let t = y[i] / cap
            grad[i] *= 1 - t * t
        }
    }

    /// `sums[j] += Σ_r x[r, j]` over `rows` rows of `cols` (bias gradients).
    public static func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into sums: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * cols
            for j in 0..<cols { sums[j] += row[j] }
        }
    }
}
