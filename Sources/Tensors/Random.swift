/// mixmerge's documented PRNG, so a mixture is the same bytes on every machine and Swift version:
///
/// - streams are **xoshiro256\*\*** (Blackman & Vigna, 2018), state seeded by four outputs of
///   **SplitMix64** from a 64-bit stream seed;
/// - a stream seed is `Hash64.of("\(seed)/\(purpose)")` — one independent stream per purpose
///   (`"safety-15/sample/safety/hi"`, `"safety-15/order"`, `"split"`), so adding a mixture or a
///   language does not change the others' draws;
/// - a bounded integer in [0, n) is Lemire's multiply-shift with rejection (unbiased);
/// - a shuffle is Fisher–Yates from the last element down, `j = below(i + 1)`.
public struct Xoshiro256StarStar: Sendable {
    var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    /// A stream for `purpose` derived from the run's seed.
    public init(seed: UInt64, purpose: String) {
        self.init(seed: Hash64.of("\(seed)/\(purpose)"))
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// Uniform integer in 0..<n (n > 0), unbiased (Lemire 2019).
    public mutating func below(_ n: Int) -> Int {
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Fisher–Yates shuffle in place.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        var i = a.count - 1
        while i > 0 {
            let j = below(i + 1)
            if i != j { a.swapAt(i, j) }
            i -= 1
        }
    }

    /// Uniform double in [0, 1) from the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

public struct SplitMix64: Sendable {
    public var state: UInt64
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fixed 64-bit hash of bytes (not Swift's per-process `Hasher`): eight bytes at a time,
/// each multiplied in and rotated, finished with SplitMix64's mixer. Used for stream seeds,
/// group keys and duplicate detection (two seeds give a 128-bit key).
public enum Hash64 {
    public static func of(_ s: String, seed: UInt64 = 0) -> UInt64 {
        var s = s
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    public static func of(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    public static func hash(_ b: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let k1: UInt64 = 0x87C3_7B91_1142_53D5
        let k2: UInt64 = 0x4CF5_AD43_2745_937F
        var h = seed ^ (UInt64(b.count) &* 0x9E37_79B9_7F4A_7C15)
        var i = 0
        while i + 8 <= b.count {
            let w = b.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
            h = (h ^ Xoshiro256StarStar.rotl(w &* k1, 31) &* k2)
            h = Xoshiro256StarStar.rotl(h, 27) &* 5 &+ 0x52DC_E729
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            tail |= UInt64(b[i]) << shift
            shift += 8
            i += 1
        }
        h ^= Xoshiro256StarStar.rotl(tail &* k1, 31) &* k2
        var z = h
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
