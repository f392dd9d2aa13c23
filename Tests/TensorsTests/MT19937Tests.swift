import Foundation
import Testing

@testable import Tensors

@Suite("MT19937")
struct MT19937Tests {
    struct Case: Decodable { let seed: UInt64; let words: [UInt32] }
    struct Golden: Decodable { let cases: [Case] }

    static let golden = loadFixture("rng/mt19937.json", as: Golden.self)

    @Test("Streams equal NumPy's RandomState (PyTorch's CPU seeding), word by word and in bulk")
    func golden() throws {
        let g = try #require(Self.golden)
        #expect(g.cases.count == 4)
        for c in g.cases {
            var a = MT19937(seed: c.seed)
            #expect((0..<c.words.count).map { _ in a.next() } == c.words, "seed \(c.seed)")
            var b = MT19937(seed: c.seed)
            var bulk = [UInt32](repeating: 0, count: c.words.count)
            bulk.withUnsafeMutableBufferPointer { p in
                b.fill(p.baseAddress!, count: 100)
                b.fill(p.baseAddress! + 100, count: 1000)
                b.fill(p.baseAddress! + 1100, count: c.words.count - 1100)
            }
            #expect(bulk == c.words)
            var s = MT19937(seed: c.seed)
            s.skip(777)
            #expect(s.next() == c.words[777])
        }
        // PyTorch seeds with the low 32 bits.
        var wide = MT19937(seed: (1 << 32) + 42)
        #expect(wide.next() == g.cases.first { $0.seed == 42 }!.words[0])
    }

    @Test("Bernoulli threshold: keep iff u·2⁻²⁴ < p")
    func threshold() {
        for p: Float in [0.3, 0.30078125, 0.5, 0.9, 1e-7, 0.999] {
            let k = MT19937.bernoulliThreshold(p)
            #expect(Float(k - 1) * 0x1p-24 < p)
            #expect(!(Float(k) * 0x1p-24 < p))
        }
        #expect(MT19937.bernoulliThreshold(0) == 0)
        #expect(MT19937.bernoulliThreshold(1) == 1 << 24)
    }
}

@Suite("Bernoulli masks")
struct BernoulliMaskTests {
    @Test("setBernoulli keeps exactly the words whose low 24 bits are below the threshold, at any start")
    func matchesScalarRule() {
        var generator = MT19937(seed: 7)
        let count = 5000
        var words = [UInt32](repeating: 0, count: count)
        words.withUnsafeMutableBufferPointer { generator.fill($0.baseAddress!, count: count) }
        for (start, threshold) in [(0, MT19937.bernoulliThreshold(0.3)), (37, MT19937.bernoulliThreshold(0.5)), (64, 0), (5, 1 << 24)] {
            let mask = Bitmask(count: start + count)
            words.withUnsafeBufferPointer { mask.setBernoulli($0.baseAddress!, count: count, threshold: threshold, start: start) }
            let wrong = (0..<count).filter { mask[start + $0] != ((words[$0] & 0xFF_FFFF) < threshold) }
            #expect(wrong.isEmpty, "start \(start): \(wrong.prefix(5))")
            #expect((0..<start).allSatisfy { !mask[$0] })
        }
    }
}
