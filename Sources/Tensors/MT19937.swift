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

    /// Regenerates the 624-word block (the "twist").
    private mutating func twist() {
        state.withUnsafeMutableBufferPointer { mt in
            let n = Self.n, m = Self.m
            for i in 0..<(n - m) {
                let y = (mt[i] & 0x8000_0000) | (mt[i + 1] & 0x7FFF_FFFF)
                mt[i] = mt[i + m] ^ (y >> 1) ^ ((y & 1) &* 0x9908_B0DF)
            }
            for i in (n - m)..<(n - 1) {
                let y = (mt[i] & 0x8000_0000) | (mt[i + 1] & 0x7FFF_FFFF)
                mt[i] = mt[i + m - n] ^ (y >> 1) ^ ((y & 1) &* 0x9908_B0DF)
            }
            let y = (mt[n - 1] & 0x8000_0000) | (mt[0] & 0x7FFF_FFFF)
            mt[n - 1] = mt[m - 1] ^ (y >> 1) ^ ((y & 1) &* 0x9908_B0DF)
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
