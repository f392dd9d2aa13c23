/// Which deltas a rank-range selection keeps, as a band of |δ| bit patterns (magnitudes compare
/// as unsigned integers): above `low`, or equal to it when `keepLow`; and below `high`, or equal to
/// it when `keepHigh`. Ties at a boundary are kept or dropped together, so a band describes a
/// stretch of the tensor where the tie counters do not cross their quota.
public struct MagnitudeBand: Sendable {
    public var low: UInt32
    public var keepLow: Bool
    public var high: UInt32
    public var keepHigh: Bool
    public init(low: UInt32, keepLow: Bool, high: UInt32, keepHigh: Bool) {
        self.low = low
        self.keepLow = keepLow
        self.high = high
        self.keepHigh = keepHigh
    }

    /// Whether the element with |δ| bit pattern `x` is kept.
    @inline(__always) public func keeps(_ x: UInt32) -> Bool {
        (x > low || (x == low && keepLow)) && (x < high || (x == high && keepHigh))
    }

    /// The kept magnitudes of the band (for magnitudes below 2³¹) as `first ... last`, where
    /// `first` ≤ 2³¹ and `last` = 2³² − 1 stands for "none kept" — so that `first ≤ x ≤ last` is
    /// two subtractions whose top bits are their signs.
    public var inclusive: (first: UInt32, last: UInt32) {
        let first = keepLow ? min(low, 0x8000_0000) : min(low, 0x7FFF_FFFF) + 1
        let last: UInt32 = keepHigh ? min(high, 0x7FFF_FFFF) : (high == 0 ? 0xFFFF_FFFF : min(high - 1, 0x7FFF_FFFF))
        return (first, last)
    }
}

/// One input model of a task-vector merge, for `TaskVectorKernel`.
public struct TaskVectorInput {
    /// The model's values at the block's first element: float32 holding compute-dtype values for
    /// `merge`, the stored bfloat16 values for `mergeStoredBF16`.
    public var x: UnsafeRawPointer
    /// Weight, already rounded to the compute dtype.
    public var weight: Float
    /// Which elements keep their delta (bit = global element index); nil keeps all.
    public var keep: Bitmask?
    /// Keep only deltas whose magnitude lies in this band (applied after `keep`); nil keeps all.
    public var band: MagnitudeBand?
    /// Rescale factor for kept deltas, already rounded to `scaleDType`; nil for none.
    public var scale: Float?
    /// The sparsifier's working dtype (the rescale product is rounded to it, then to the compute dtype).
    public var scaleDType: DType

    public init(x: UnsafeRawPointer, weight: Float, keep: Bitmask?, band: MagnitudeBand? = nil, scale: Float?, scaleDType: DType) {
        self.x = x
        self.weight = weight
        self.keep = keep
        self.band = band
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
/// block in one pass, eight elements at a time.
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
        offset: Int, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        switch compute {
        case .bf16: run(BF16Format.self, base, inputs, options, offset, count, out)
        case .f16: run(F16Format.self, base, inputs, options, offset, count, out)
        default: run(F32Format.self, base, inputs, options, offset, count, out)
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
    /// 1 where the lane is NaN, else 0.
    @inline(__always) static func isNaN(_ b: U) -> U { (U(repeating: 0x7F80_0000) &- (b & 0x7FFF_FFFF)) &>> 31 }
    /// All ones where `flag` is 1.
    @inline(__always) static func mask(_ flag: U) -> U { U(repeating: 0) &- flag }
    /// The keep bits of elements `e..<e+8` as lane masks (`e` a multiple of 8).
    @inline(__always) static func keepMask(_ words: UnsafeMutablePointer<UInt64>, _ e: Int) -> U {
        let byte = UInt32(truncatingIfNeeded: words[e &>> 6] &>> UInt64(e & 63)) & 0xFF
        return mask((U(repeating: byte) &>> U(0, 1, 2, 3, 4, 5, 6, 7)) & 1)
    }

    /// One input, reduced to plain values for the hot loop (no reference counting inside it).
    struct Lane {
        var x: UnsafeRawPointer
        var weight: Float
        var words: UnsafeMutablePointer<UInt64>?
        var hasBand: Bool
        /// The band as an inclusive range of magnitudes (`MagnitudeBand.inclusive`).
        var first: UInt32, last: UInt32
        var hasScale: Bool
        var scale: Float
    }

    /// How a step rounds: fully (NaN-safe), or without the NaN fix-up while flagging large inputs.
    protocol LaneRounding { static var tracks: Bool { get } }
    enum FullRounding: LaneRounding { static var tracks: Bool { false } }
    enum NonNaNRounding: LaneRounding { static var tracks: Bool { true } }

    /// The loop-invariant state of one block's merge.
    struct Step {
        let lanes: UnsafeMutableBufferPointer<Lane>
        let deltas: UnsafeMutableBufferPointer<V>
        let m: Int
        let offset: Int
        let consensus: Bool
        let normalize: Bool
        let divisor: V
        let lambda: Float
        let scaleByLambda: Bool

        /// The formula for eight elements: `b` the base, `x(j)` model j's values, `keep(words)` the
        /// lane masks of a keep bitmask. With `NonNaNRounding` also returns 1 in lanes where an
        /// input's magnitude is 2⁶⁴ or more (or NaN), so the caller can tell whether a NaN could
        /// have arisen.
        @inline(__always)
        func core<C: StorageFormat, R: LaneRounding>(
            _: C.Type, _: R.Type, _ b: V, _ x: (Int) -> V, _ keep: (UnsafeMutablePointer<UInt64>) -> U
        ) -> (V, U) {
            @inline(__always) func rd(_ v: V) -> V { R.tracks ? C.roundNonNaN8(v) : C.round8(v) }
            @inline(__always) func flag(_ v: V) -> U { (U(repeating: 0x5F7F_FFFF) &- (bits(v) & 0x7FFF_FFFF)) &>> 31 }
            var large = U()
            if R.tracks { large = flag(b) }
            var total = V()
            for j in 0..<m {
                let lane = lanes[j]
                let xj = x(j)
                if R.tracks { large |= flag(xj) }
                var d = rd(xj - b)
                if let words = lane.words { d = float(bits(d) & keep(words)) }
                if lane.hasBand {
                    // Integer-only: kept iff first ≤ |δ| ≤ last (magnitudes are < 2³¹, so each
                    // difference's top bit is its sign; `last` may be 2³² − 1, meaning none).
                    let a = bits(d) & 0x7FFF_FFFF
                    let dropped = ((a &- U(repeating: lane.first)) | (U(repeating: lane.last) &- a)) &>> 31
                    d = float(bits(d) & mask(1 &- dropped))
                }
                // The work dtype is D itself or float32, so one rounding to D is exact.
                if lane.hasScale { d = rd(d * lane.scale) }
                let delta = rd(d * lane.weight)
                deltas[j] = delta
                total = j == 0 ? delta : total + delta
            }
            var mixed: V, div = divisor
            if consensus {
                // torch: σ = (S ≥ 0) ? +1 : −1 (−0 votes +, a NaN sum votes −); an agreeing Δ has σ's
                // sign and is not zero; sign(NaN) = 0 never agrees.
                let t = bits(rd(total))
                let sigma = (1 &- negative(t)) & (1 &- isNaN(t))
                let negativeSum = negative(t)
                var sum = V(), weights = V()
                for j in 0..<m {
                    let db = bits(deltas[j])
                    let agrees: U
                    if R.tracks {
                        // No NaN can arise on this path: a Δ agrees when it is nonzero and its sign
                        // bit is the sum's (a −0 sum votes +).
                        let nonzero = (U(repeating: 0) &- (db & 0x7FFF_FFFF)) &>> 31
                        agrees = mask(nonzero & (1 ^ (db &>> 31) ^ negativeSum))
                    } else {
                        agrees = mask(((sigma & positive(db)) | ((1 &- sigma) & negative(db))) & (1 &- isNaN(db)))
                    }
                    let contribution = float(db & agrees)
                    let weight = float(bits(V(repeating: lanes[j].weight)) & agrees)
                    if j == 0 { sum = contribution; weights = weight } else { sum = sum + contribution; weights = weights + weight }
                }
                mixed = rd(sum)
                let w = bits(rd(weights))
                let zero = mask(((w & 0x7FFF_FFFF) &- 1) &>> 31)  // ±0 → 1
                div = float((w & ~zero) | (bits(V(repeating: 1)) & zero))
            } else {
                mixed = rd(total)
            }
            if normalize { mixed = rd(mixed / div) }
            if scaleByLambda { mixed = rd(mixed * lambda) }
            return (rd(b + mixed), large)
        }

        /// Eight elements from `i` of float32 inputs; a partial last vector reads and writes only
        /// `count` lanes.
        @inline(__always)
        func widened<C: StorageFormat, R: LaneRounding>(
            _: C.Type, _: R.Type, _ i: Int, _ count: Int, _ base: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
        ) -> U {
            @inline(__always) func get(_ p: UnsafePointer<Float>) -> V {
                if count == 8 { return load(p, i) }
                var v = V()
                for k in 0..<count { v[k] = p[i + k] }
                return v
            }
            let (result, large) = core(
                C.self, R.self, get(base), { get(lanes[$0].x.assumingMemoryBound(to: Float.self)) }, { keepMask($0, offset &+ i) })
            if count == 8 {
                store(result, out, i)
            } else {
                for k in 0..<count { out[i + k] = result[k] }
            }
            return large
        }

        /// Sixteen stored bfloat16 elements from `i` (a multiple of 16), read as eight 32-bit pairs:
        /// `pair << 16` is the even elements as float32, `pair & 0xFFFF0000` the odd ones (no lane
        /// width conversion); the bf16 results are packed back the same way.
        @inline(__always)
        func pairs<R: LaneRounding>(_: R.Type, _ i: Int, _ base: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) -> U {
            @inline(__always) func pair(_ p: UnsafeRawPointer) -> U { (p + 2 &* i).loadUnaligned(as: U.self) }
            @inline(__always) func keep16(_ words: UnsafeMutablePointer<UInt64>, _ shifts: U) -> U {
                let e = offset &+ i
                let chunk = UInt32(truncatingIfNeeded: words[e &>> 6] &>> UInt64(e & 63)) & 0xFFFF
                return mask((U(repeating: chunk) &>> shifts) & 1)
            }
            let b = pair(base)
            let (even, l0) = core(
                BF16Format.self, R.self, float(b &<< 16), { float(pair(lanes[$0].x) &<< 16) },
                { keep16($0, U(0, 2, 4, 6, 8, 10, 12, 14)) })
            let (odd, l1) = core(
                BF16Format.self, R.self, float(b & 0xFFFF_0000), { float(pair(lanes[$0].x) & 0xFFFF_0000) },
                { keep16($0, U(1, 3, 5, 7, 9, 11, 13, 15)) })
            (out + 2 &* i).storeBytes(of: (bits(even) &>> 16) | (bits(odd) & 0xFFFF_0000), as: U.self)
            return l0 | l1
        }

        /// Up to eight stored bfloat16 elements from `i` (the tail after the pairs).
        @inline(__always)
        func storedTail(_ i: Int, _ count: Int, _ base: UnsafeRawPointer, _ out: UnsafeMutableRawPointer) {
            @inline(__always) func get(_ p: UnsafeRawPointer) -> V {
                var v = V()
                for k in 0..<count { v[k] = BF16Format.load(p, i + k) }
                return v
            }
            let (result, _) = core(BF16Format.self, FullRounding.self, get(base), { get(lanes[$0].x) }, { keepMask($0, offset &+ i) })
            for k in 0..<count { BF16Format.store(result[k], out, i + k) }
        }
    }

    /// Runs `body` with the block's `Step` and whether the cheaper rounding may be used.
    static func withStep<T>(
        _ inputs: [TaskVectorInput], _ options: Options, _ offset: Int, _ dtype: DType,
        _ body: (Step, _ fastAllowed: Bool) -> T
    ) -> T {
        precondition(offset % 8 == 0, "blocks start on multiples of 8 elements")
        let m = inputs.count
        for input in inputs {
            precondition(input.scaleDType == .f32 || input.scaleDType == dtype, "work dtype is D or float32")
        }
        let scalars: [Float] = inputs.flatMap { [$0.weight, $0.scale ?? 1] } + [options.divisor, options.lambda ?? 1]
        let fastAllowed = m <= 64 && scalars.allSatisfy { $0.isFinite && $0.magnitude < 0x1p16 } && options.lambda != 0
        return withUnsafeTemporaryAllocation(of: Lane.self, capacity: max(1, m)) { lanes in
            withUnsafeTemporaryAllocation(of: V.self, capacity: max(1, m)) { deltas in
                for (j, input) in inputs.enumerated() {
                    let band = input.band
                    let range = band?.inclusive ?? (first: 0, last: 0)
                    lanes[j] = Lane(
                        x: input.x, weight: input.weight, words: input.keep?.words, hasBand: band != nil,
                        first: range.first, last: range.last, hasScale: input.scale != nil, scale: input.scale ?? 1)
                }
                let step = Step(
                    lanes: lanes, deltas: deltas, m: m, offset: offset,
                    consensus: options.consensus, normalize: options.normalize, divisor: V(repeating: options.divisor),
                    lambda: options.lambda ?? 1, scaleByLambda: options.lambda != nil)
                return body(step, fastAllowed)
            }
        }
    }

    /// `merge` for inputs stored as bfloat16 with bfloat16 compute and output: reads the stored
    /// inputs and writes the stored output directly (no widening or narrowing pass). Offsets of
    /// blocks must be multiples of 16 when keep bitmasks are given.
    public static func mergeStoredBF16(
        base: UnsafeRawPointer, inputs: [TaskVectorInput], options: Options, offset: Int, count n: Int,
        into out: UnsafeMutableRawPointer
    ) {
        precondition(offset % 16 == 0, "blocks start on multiples of 16 elements")
        withStep(inputs, options, offset, .bf16) { step, fastAllowed in
            let pn = n & ~15
            var i = 0
            var redo = !fastAllowed
            if fastAllowed {
                var large = U()
                while i < pn {
                    large |= step.pairs(NonNaNRounding.self, i, base, out)
                    i &+= 16
                }
                redo = large != U()
            }
            if redo {
                i = 0
                while i < pn {
                    _ = step.pairs(FullRounding.self, i, base, out)
                    i &+= 16
                }
            }
            i = pn
            while i < n {
                step.storedTail(i, min(8, n - i), base, out)
                i &+= 8
            }
        }
    }

    /// One pass over the block, eight elements at a time, every model's Δ kept in registers or a
    /// small stack buffer: the formula above, step for step.
    static func run<C: StorageFormat>(
        _: C.Type, _ base: UnsafePointer<Float>, _ inputs: [TaskVectorInput], _ options: Options,
        _ offset: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        withStep(inputs, options, offset, C.dtype) { step, fastAllowed in
            let vn = n & ~7
            var i = 0
            if fastAllowed {
                // NaN can only come from a NaN input, ∞ − ∞ or an overflow: with every input
                // below 2⁶⁴ and every scalar below 2¹⁶ (checked in `withStep`) none happens, and
                // the cheaper rounding is exact. Otherwise the block is redone with full rounding.
                var large = U()
                while i < vn {
                    large |= step.widened(C.self, NonNaNRounding.self, i, 8, base, out)
                    i &+= 8
                }
                if i < n { _ = step.widened(C.self, FullRounding.self, i, n - i, base, out) }
                if large == U() { return }
                i = 0
            }
            while i < vn {
                _ = step.widened(C.self, FullRounding.self, i, 8, base, out)
                i &+= 8
            }
            if i < n { _ = step.widened(C.self, FullRounding.self, i, n - i, base, out) }
        }
    }
}
