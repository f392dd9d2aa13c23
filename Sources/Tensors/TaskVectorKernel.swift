/// One input model of a task-vector merge, for `TaskVectorKernel`.
public struct TaskVectorInput {
    /// The model's values at the block's first element (float32 holding compute-dtype values).
    public var x: UnsafePointer<Float>
    /// Weight, already rounded to the compute dtype.
    public var weight: Float
    /// Which elements keep their delta (bit = global element index); nil keeps all.
    public var keep: Bitmask?
    /// Rescale factor for kept deltas, already rounded to `scaleDType`; nil for none.
    public var scale: Float?
    /// The sparsifier's working dtype (the rescale product is rounded to it, then to the compute dtype).
    public var scaleDType: DType

    public init(x: UnsafePointer<Float>, weight: Float, keep: Bitmask?, scale: Float?, scaleDType: DType) {
        self.x = x
        self.weight = weight
        self.keep = keep
        self.scale = scale
        self.scaleDType = scaleDType
    }
}

/// The element-wise core of mergekit's generalized task arithmetic (task_arithmetic, ties, dare,
/// breadcrumbs, della): per element, with every step rounded to the compute dtype D as torch does,
///
///     δⱼ = D(xⱼ − b);  δⱼ = keepⱼ ? (scaleⱼ ? D(W(δⱼ·sⱼ)) : δⱼ) : 0;  Δⱼ = D(δⱼ·wⱼ)
///     consensus:  σ = D(ΣΔⱼ) ≥ 0 ? +1 : −1;  mixed = D(Σ Δⱼ where sign Δⱼ = σ);  div = D(Σ wⱼ where sign Δⱼ = σ), 0 → 1
///     otherwise:  mixed = D(ΣΔⱼ);  div = the scalar divisor
///     normalize: mixed = D(mixed / div);  λ ≠ 1: mixed = D(mixed·λ);  out = D(b + mixed)
///
/// Sums over models run in config order in float32 and round once. Works model by model over a
/// block (each loop vectorises); `scratch` must hold `(models + 2) × count` floats.
public enum TaskVectorKernel {
    public struct Options {
        public var consensus: Bool
        public var normalize: Bool
        /// Divisor without consensus (already rounded, 0-guarded).
        public var divisor: Float
        public var lambda: Float?
        public init(consensus: Bool, normalize: Bool, divisor: Float, lambda: Float?) {
            self.consensus = consensus
            self.normalize = normalize
            self.divisor = divisor
            self.lambda = lambda
        }
    }

    /// Merges `count` elements: `base` and every input hold compute-dtype values as float32;
    /// `out` receives compute-dtype values as float32.
    public static func merge(
        base: UnsafePointer<Float>, inputs: [TaskVectorInput], compute: DType, options: Options,
        offset: Int, count: Int, into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        switch compute {
        case .bf16: run(BF16Format.self, base, inputs, options, offset, count, out, scratch)
        case .f16: run(F16Format.self, base, inputs, options, offset, count, out, scratch)
        default: run(F32Format.self, base, inputs, options, offset, count, out, scratch)
        }
    }

    typealias V = SIMD8<Float>
    typealias U = SIMD8<UInt32>

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }
    @inline(__always) static func bits(_ v: V) -> U { unsafeBitCast(v, to: U.self) }
    @inline(__always) static func float(_ u: U) -> V { unsafeBitCast(u, to: V.self) }
    /// 1 where the lane is > 0 (not ±0), else 0 (NaN with a clear sign bit counts as > 0).
    @inline(__always) static func positive(_ b: U) -> U { (~b &>> 31) & ((U(repeating: 0) &- b) &>> 31) }
    /// 1 where the lane is < 0 (not −0), else 0.
    @inline(__always) static func negative(_ b: U) -> U { (b &>> 31) & ((U(repeating: 0) &- (b & 0x7FFF_FFFF)) &>> 31) }
    /// All ones where `flag` is 1.
    @inline(__always) static func mask(_ flag: U) -> U { U(repeating: 0) &- flag }
    /// The keep bits of elements `e..<e+8` as lane masks (`e` a multiple of 8).
    @inline(__always) static func keepMask(_ words: UnsafeMutablePointer<UInt64>, _ e: Int) -> U {
        let byte = UInt32(truncatingIfNeeded: words[e &>> 6] &>> UInt64(e & 63)) & 0xFF
        return mask((U(repeating: byte) &>> U(0, 1, 2, 3, 4, 5, 6, 7)) & 1)
    }

    static func run<C: StorageFormat>(
        _: C.Type, _ base: UnsafePointer<Float>, _ inputs: [TaskVectorInput], _ options: Options,
        _ offset: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>
    ) {
        precondition(offset % 8 == 0, "blocks start on multiples of 8 elements")
        let m = inputs.count
        let total = scratch + m * n
        let weightSum = scratch + (m + 1) * n
        let vn = n & ~7
        // Δⱼ = D(keep ? scaled(D(xⱼ − b)) : 0) · wⱼ, model by model.
        for (j, input) in inputs.enumerated() {
            let delta = scratch + j * n
            let x = input.x, w = input.weight
            let words = input.keep?.words
            let s = input.scale
            precondition(input.scaleDType == .f32 || input.scaleDType == C.dtype, "work dtype is D or float32")
            var i = 0
            while i < vn {
                var d = C.round8(load(x, i) - load(base, i))
                if let words { d = float(bits(d) & keepMask(words, offset &+ i)) }
                // The work dtype is D itself or float32, so one rounding to D is exact.
                if let s { d = C.round8(d * s) }
                store(C.round8(d * w), delta, i)
                i &+= 8
            }
            while i < n {
                var d = C.round(x[i] - base[i])
                if let words, (words[(offset &+ i) &>> 6] &>> UInt64((offset &+ i) & 63)) & 1 == 0 { d = 0 }
                if let s { d = C.round(Rounding.round(d * s, to: input.scaleDType)) }
                delta[i] = C.round(d * w)
                i &+= 1
            }
        }
        // Σ Δⱼ in config order.
        total.update(from: scratch, count: n)
        for j in 1..<max(1, m) {
            let delta = scratch + j * n
            for i in 0..<n { total[i] = total[i] + delta[i] }
        }
        if options.consensus {
            // σ = + where D(ΣΔ) ≥ 0 (so −0 counts as +); an agreeing Δ has σ's sign and is not zero.
            var i = 0
            while i < n {
                let lanes = min(8, n - i)
                var t = V(), sigma = U()
                if lanes == 8 { t = C.round8(load(total, i)) } else { for k in 0..<lanes { t[k] = C.round(total[i + k]) } }
                sigma = 1 &- negative(bits(t))
                var sum = V(), weights = V()
                for j in 0..<m {
                    let delta = scratch + j * n
                    var d = V()
                    if lanes == 8 { d = load(delta, i) } else { for k in 0..<lanes { d[k] = delta[i + k] } }
                    let db = bits(d)
                    let agrees = mask((sigma & positive(db)) | ((1 &- sigma) & negative(db)))
                    let contribution = float(db & agrees)
                    let weight = float(bits(V(repeating: inputs[j].weight)) & agrees)
                    if j == 0 { sum = contribution; weights = weight } else { sum = sum + contribution; weights = weights + weight }
                }
                if lanes == 8 {
                    store(sum, total, i)
                    store(weights, weightSum, i)
                } else {
                    for k in 0..<lanes { total[i + k] = sum[k]; weightSum[i + k] = weights[k] }
                }
                i &+= 8
            }
            for i in 0..<n {
                let d = C.round(weightSum[i])
                weightSum[i] = d == 0 ? 1 : d
            }
        }
        let normalize = options.normalize, consensus = options.consensus
        let divisor = options.divisor, lambda = options.lambda ?? 1, scaleByLambda = options.lambda != nil
        var i = 0
        while i < vn {
            var mixed = C.round8(load(total, i))
            if normalize { mixed = C.round8(mixed / (consensus ? load(weightSum, i) : V(repeating: divisor))) }
            if scaleByLambda { mixed = C.round8(mixed * lambda) }
            store(C.round8(load(base, i) + mixed), out, i)
            i &+= 8
        }
        while i < n {
            var mixed = C.round(total[i])
            if normalize { mixed = C.round(mixed / (consensus ? weightSum[i] : divisor)) }
            if scaleByLambda { mixed = C.round(mixed * lambda) }
            out[i] = C.round(base[i] + mixed)
            i &+= 1
        }
    }
}
