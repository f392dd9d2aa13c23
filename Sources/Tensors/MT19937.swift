/// The Mersenne Twister MT19937 (Matsumoto & Nishimura 1998), seeded with `init_genrand` as
/// PyTorch's CPU generator and NumPy's `RandomState` seed it, so that mixmerge draws exactly the
/// 32-bit words mergekit's DARE/DELLA masks are made from (mergekit-spec §2.8).
///
/// Words are produced 624 at a time into an internal block; `fill` copies them out in bulk.
public struct MT19937: Sendable {
    static let n = 624
    static let m = 397
    private var state: [UInt32]
    private var index: Int

    /// `init_genrand(seed)`; PyTorch uses the low 32 bits of its 64-bit seed.
    public init(seed: UInt64) {
        var s = [UInt32](repeating: 0, count: Self.n)
        s[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<Self.n {
            s[i] = 1_812_433_253 &* (s[i - 1] ^ (s[i - 1] >> 30)) &+ UInt32(i)
        }
        state = s
        index = Self.n
    }

    /// Regenerates the 624-word block (the "twist"). Word i's new value reads words i + 1 (old)
    /// and i + 397 (old) or i − 227 (already new), never a word within 8 of it, so eight words at
    /// a time give the sequential result.
    private mutating func twist() {
        state.withUnsafeMutableBufferPointer { buffer in
            let mt = buffer.baseAddress!
            let n = Self.n, m = Self.m
            typealias U = SIMD8<UInt32>
            @inline(__always) func load(_ i: Int) -> U { UnsafeRawPointer(mt + i).loadUnaligned(as: U.self) }
            @inline(__always) func next(_ i: Int, _ far: Int) -> U {
                let y = (load(i) & 0x8000_0000) | (load(i + 1) & 0x7FFF_FFFF)
                return load(far) ^ (y &>> 1) ^ ((U(repeating: 0) &- (y & 1)) & 0x9908_B0DF)
            }
            @inline(__always) func store(_ v: U, _ i: Int) { UnsafeMutableRawPointer(mt + i).storeBytes(of: v, as: U.self) }
            @inline(__always) func scalar(_ i: Int, _ far: Int) {
                let y = (mt[i] & 0x8000_0000) | (mt[(i + 1) % n] & 0x7FFF_FFFF)
                mt[i] = mt[far] ^ (y >> 1) ^ ((y & 1) &* 0x9908_B0DF)
            }
            var i = 0
            while i + 8 <= n - m { store(next(i, i + m), i); i += 8 }
            while i < n - m { scalar(i, i + m); i += 1 }
            while i + 8 <= n - 1 { store(next(i, i + m - n), i); i += 8 }
            while i < n - 1 { scalar(i, i + m - n); i += 1 }
            scalar(n - 1, m - 1)
        }
        index = 0
    }

    @inline(__always)
    static func temper(_ x: UInt32) -> UInt32 {
        var y = x
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// The next 32-bit word.
    public mutating func next() -> UInt32 {
        if index >= Self.n { twist() }
        let y = Self.temper(state[index])
        index += 1
        return y
    }

    /// Writes the next `count` words to `destination`.
    public mutating func fill(_ destination: UnsafeMutablePointer<UInt32>, count: Int) {
        var done = 0
        while done < count {
            if index >= Self.n { twist() }
            let take = min(Self.n - index, count - done)
            state.withUnsafeBufferPointer { mt in
                let src = mt.baseAddress! + index
                let dst = destination + done
                for i in 0..<take { dst[i] = Self.temper(src[i]) }
            }
            index += take
            done += take
        }
    }

    /// Discards the next `count` words.
    public mutating func skip(_ count: Int) {
        var left = count
        while left > 0 {
            if index >= Self.n { twist() }
            let take = min(Self.n - index, left)
            index += take
            left -= take
        }
    }

    /// The largest 24-bit integer `k` such that a draw keeps an element iff `(word & 0xFFFFFF) < k`,
    /// for keep probability `p`: PyTorch keeps iff `(word & 0xFFFFFF) · 2⁻²⁴ < p`.
    public static func bernoulliThreshold(_ p: Float) -> UInt32 {
        if !(p > 0) { return 0 }
        if p >= 1 { return 1 << 24 }
        let scaled = Double(p) * 16_777_216
        return UInt32(scaled.rounded(.up))
    }
}
