/// One bit per element, in 64-bit words (bit `i % 64` of word `i / 64`). Work split on multiples of
/// 64 elements never shares a word, so disjoint ranges can be written from different threads.
public final class Bitmask: @unchecked Sendable {
    // Sendable: writers touch disjoint words (see above); readers run after the writers finished.
    public let count: Int
    public let words: UnsafeMutablePointer<UInt64>
    public var wordCount: Int { (count + 63) / 64 }

    public init(count: Int, filled: Bool = false) {
        self.count = count
        words = .allocate(capacity: max(1, (count + 63) / 64))
        words.initialize(repeating: filled ? ~0 : 0, count: max(1, (count + 63) / 64))
    }

    deinit { words.deallocate() }

    @inline(__always) public subscript(i: Int) -> Bool {
        (words[i &>> 6] &>> UInt64(i & 63)) & 1 != 0
    }

    @inline(__always) public func set(_ i: Int) {
        words[i &>> 6] |= 1 &<< UInt64(i & 63)
    }

}

/// Rank selection by radix on float bit patterns: non-negative floats order like their bit
/// patterns, so a 65 536-bin histogram of the high 16 bits, then one of the low 16 bits inside the
/// chosen bin, finds the value of any rank in two streaming passes (linear time, no sort, no copy).
public enum RadixSelect {
    /// The bin holding ascending rank `rank` and the number of elements in lower bins.
    public static func locate(_ histogram: UnsafePointer<Int>, bins: Int, rank: Int) -> (bin: Int, below: Int) {
        var below = 0
        for b in 0..<bins {
            let c = histogram[b]
            if rank < below + c { return (b, below) }
            below += c
        }
        return (bins - 1, below)
    }
}

extension Bitmask {
    /// Sets bit `start + i` for every `i` with `(words[i] & 0xFFFFFF) < threshold` — Bernoulli draws
    /// from 32-bit generator words, as PyTorch's CPU `bernoulli` makes them. `start` must be a
    /// multiple of 64 unless the words it touches are not shared with another writer.
    public func setBernoulli(_ words: UnsafePointer<UInt32>, count: Int, threshold: UInt32, start: Int) {
        var i = 0
        while i < count {
            let e = start &+ i
            let bitOffset = e & 63
            let take = min(64 - bitOffset, count - i)
            var word: UInt64 = 0
            if take == 64 {
                // Eight lanes at a time: lane k of vector v carries bit 8v + k; vectors 0–3 and 4–7
                // fill two 32-bit halves whose lanes hold disjoint bits, so a lane sum is their OR.
                typealias U = SIMD8<UInt32>
                let t = U(repeating: threshold)
                var halves: (U, U) = (U(), U())
                for v in 0..<8 {
                    let w = UnsafeRawPointer(words + (i &+ 8 &* v)).loadUnaligned(as: U.self) & 0xFF_FFFF
                    let kept = (w &- t) &>> 31  // w < t (both below 2²⁴ + 1)
                    let shifted = kept &<< (U(0, 1, 2, 3, 4, 5, 6, 7) &+ UInt32(8 &* (v & 3)))
                    if v < 4 { halves.0 |= shifted } else { halves.1 |= shifted }
                }
                word = UInt64(halves.0.wrappedSum()) | UInt64(halves.1.wrappedSum()) &<< 32
            } else {
                for k in 0..<take { word |= UInt64(words[i &+ k] & 0xFF_FFFF < threshold ? 1 : 0) &<< UInt64(k) }
            }
            self.words[e &>> 6] |= word &<< UInt64(bitOffset)
            i &+= take
        }
    }
}

extension Fused {
    /// Bit patterns of |D(x − b)|: the magnitudes a magnitude sparsifier ranks (non-negative floats
    /// order like their bit patterns).
    public static func deltaMagnitudeBits(
        _ x: UnsafePointer<Float>, _ b: UnsafePointer<Float>, compute: DType, into out: UnsafeMutablePointer<UInt32>, count: Int
    ) {
        switch compute {
        case .bf16: for i in 0..<count { out[i] = BF16Format.round(x[i] - b[i]).bitPattern & 0x7FFF_FFFF }
        case .f16: for i in 0..<count { out[i] = F16Format.round(x[i] - b[i]).bitPattern & 0x7FFF_FFFF }
        default: for i in 0..<count { out[i] = (x[i] - b[i]).bitPattern & 0x7FFF_FFFF }
        }
    }

    /// (Σ m, Σ m·keep) over magnitudes given as bit patterns, keep bits taken from `mask` at
    /// `offset + i` (`offset` a multiple of 8). Float32 partial sums in 8 lanes per 1024 elements,
    /// returned as Double.
    public static func maskedSums(_ magnitudes: UnsafePointer<UInt32>, mask: Bitmask, offset: Int, count: Int) -> (Double, Double) {
        var allD = 0.0, keptD = 0.0
        let words = mask.words
        var i = 0
        while i < count {
            let end = min(count, i + 1024)
            var all = SIMD8<Float>(), kept = SIMD8<Float>()
            var k = i
            while k + 8 <= end {
                let v = UnsafeRawPointer(magnitudes + k).loadUnaligned(as: SIMD8<UInt32>.self)
                all += unsafeBitCast(v, to: SIMD8<Float>.self)
                kept += unsafeBitCast(v & TaskVectorKernel.keepMask(words, offset &+ k), to: SIMD8<Float>.self)
                k += 8
            }
            var a = Double(all.sum()), b = Double(kept.sum())
            while k < end {
                let v = Float(bitPattern: magnitudes[k])
                a += Double(v)
                if mask[offset &+ k] { b += Double(v) }
                k += 1
            }
            allD += a
            keptD += b
            i = end
        }
        return (allD, keptD)
    }
}

extension Fused {
    /// |D(x − b)| bit patterns straight from stored inputs. Fast when both are stored in the
    /// compute dtype; otherwise each element is widened and rounded to D first.
    public static func deltaMagnitudeBits(
        _ x: UnsafeRawPointer, _ xType: DType, _ b: UnsafeRawPointer, _ bType: DType, compute: DType,
        into out: UnsafeMutablePointer<UInt32>, count: Int
    ) {
        if xType == compute && bType == compute {
            switch compute {
            case .bf16: storedMagnitudes(BF16Format.self, x, b, out, count)
            case .f16: storedMagnitudes(F16Format.self, x, b, out, count)
            default: storedMagnitudes(F32Format.self, x, b, out, count)
            }
            return
        }
        func load(_ p: UnsafeRawPointer, _ t: DType, _ i: Int) -> Float { Rounding.round(t.load(p, i), to: compute) }
        for i in 0..<count {
            out[i] = Rounding.round(load(x, xType, i) - load(b, bType, i), to: compute).bitPattern & 0x7FFF_FFFF
        }
    }

    @inline(__always)
    static func storedMagnitudes<S: StorageFormat>(
        _: S.Type, _ x: UnsafeRawPointer, _ b: UnsafeRawPointer, _ out: UnsafeMutablePointer<UInt32>, _ n: Int
    ) {
        for i in 0..<n { out[i] = S.round(S.load(x, i) - S.load(b, i)).bitPattern & 0x7FFF_FFFF }
    }
}
