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

    /// Number of set bits.
    public var population: Int {
        var n = 0
        for w in 0..<wordCount { n &+= words[w].nonzeroBitCount }
        return n
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
