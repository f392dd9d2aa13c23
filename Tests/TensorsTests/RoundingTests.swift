import Foundation
import Testing

@testable import Tensors

/// An independent reference for float32 → bfloat16 rounding: pick the nearer of the two
/// bfloat16 neighbours in Double arithmetic, ties to the even one.
func referenceBF16(_ x: Float) -> UInt16 {
    if x.isNaN { return UInt16(truncatingIfNeeded: (x.bitPattern | 0x0040_0000) >> 16) }
    let bits = x.bitPattern
    let down = bits & 0xFFFF_0000
    let up = down &+ 0x1_0000
    let lo = Double(Float(bitPattern: down)), hi = Double(Float(bitPattern: up))
    let v = Double(x)
    if lo == v { return UInt16(down >> 16) }
    // Beyond the largest finite bfloat16 the upper neighbour is ±Inf; the midpoint rule still holds.
    let hiValue = hi.isInfinite ? (lo.sign == .minus ? -1 : 1) * 0x1.0p128 : hi
    let dLo = abs(v - lo), dHi = abs(hiValue - v)
    if dLo < dHi { return UInt16(down >> 16) }
    if dHi < dLo { return UInt16(truncatingIfNeeded: up >> 16) }
    return (down >> 16) & 1 == 0 ? UInt16(down >> 16) : UInt16(truncatingIfNeeded: up >> 16)
}

@Suite("Exact rounding")
struct RoundingTests {
    static let specials: [Float] = [
        0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .leastNonzeroMagnitude, .leastNormalMagnitude, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
        Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x7F7F_8000), Float(bitPattern: 0x0000_8000), 0.3, 0.7, 1e-8,
    ]

    @Test("bfloat16 rounding matches the reference on special values and ties")
    func bf16Specials() {
        for x in Self.specials {
            #expect(Rounding.narrowBF16(x) == referenceBF16(x), "x = \(x) bits \(String(x.bitPattern, radix: 16))")
        }
        #expect(Rounding.toBF16(0.3) == 0.30078125)
        #expect(Rounding.toBF16(0.7) == 0.69921875)
    }

    @Test("bfloat16 rounding matches the reference on a sweep of bit patterns")
    func bf16Sweep() {
        var bits: UInt32 = 0
        var checked = 0
        while true {
            let x = Float(bitPattern: bits)
            #expect(Rounding.narrowBF16(x) == referenceBF16(x))
            checked += 1
            let (next, overflow) = bits.addingReportingOverflow(0x0000_1235)
            if overflow { break }
            bits = next
        }
        #expect(checked > 900_000)
    }

    @Test("Bulk conversions equal the scalar ones, bit for bit")
    func bulkMatchesScalar() {
        var values: [Float] = Self.specials
        var state: UInt32 = 12345
        for _ in 0..<20_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            values.append(Float(bitPattern: state))
        }
        let n = values.count
        var bf = [UInt16](repeating: 0, count: n)
        var hf = [UInt16](repeating: 0, count: n)
        values.withUnsafeBufferPointer { src in
            bf.withUnsafeMutableBytes { Convert.narrow(src.baseAddress!, count: n, to: .bf16, into: $0.baseAddress!) }
            hf.withUnsafeMutableBytes { Convert.narrow(src.baseAddress!, count: n, to: .f16, into: $0.baseAddress!) }
        }
        for i in 0..<n {
            #expect(bf[i] == Rounding.narrowBF16(values[i]))
            #expect(hf[i] == Float16(values[i]).bitPattern)
        }
        var wide = [Float](repeating: 0, count: n)
        bf.withUnsafeBytes { src in wide.withUnsafeMutableBufferPointer { Convert.widen(src.baseAddress!, .bf16, count: n, into: $0.baseAddress!) } }
        for i in 0..<n { #expect(wide[i].bitPattern == Rounding.widenBF16(bf[i]).bitPattern) }
        hf.withUnsafeBytes { src in wide.withUnsafeMutableBufferPointer { Convert.widen(src.baseAddress!, .f16, count: n, into: $0.baseAddress!) } }
        for i in 0..<n { #expect(wide[i].bitPattern == Float(Float16(bitPattern: hf[i])).bitPattern || wide[i].isNaN) }
        var rounded = values
        rounded.withUnsafeMutableBufferPointer { Convert.round($0.baseAddress!, count: n, to: .bf16) }
        for i in 0..<n {
            #expect(rounded[i].bitPattern == Rounding.toBF16(values[i]).bitPattern)
        }
    }

    @Test("float16 rounding: ties to even, overflow to infinity")
    func f16() {
        #expect(Rounding.toF16(65520) == .infinity)
        #expect(Rounding.toF16(65519) == 65504)
        #expect(Rounding.toF16(1 + 0x1p-11) == 1)  // tie → even
        #expect(Rounding.toF16(1 + 3 * 0x1p-11) == 1 + 0x1p-9)  // tie → even (up)
    }

    @Test("dtype promotion follows PyTorch")
    func promotion() {
        #expect(DType.promote(.bf16, .bf16) == .bf16)
        #expect(DType.promote(.bf16, .f16) == .f32)
        #expect(DType.promote(.bf16, .f32) == .f32)
        #expect(DType(mergekitName: "torch.bfloat16") == .bf16)
        #expect(DType(mergekitName: "bf16") == nil)
    }
}

@Suite("SLEEF's expf (torch's vectorized exponential)")
struct SleefExpTests {
    @Test("Within SLEEF's 1-ulp bound of the exact value, over the range softmax uses and beyond")
    func accuracy() {
        // The result must be one of the two floats around the exact value.
        func withinBound(_ x: Float) -> Bool {
            let got = SleefExp.exp(x), exact = Foundation.exp(Double(x))
            return got == Float(exact) || (Double(got) - exact).magnitude < Double(Float(exact).ulp)
        }
        var outside: [Float] = []
        for i in 0..<150_000 {
            let x = -103.9 + Float(i) * 0.00128  // −103.9 … 88.1
            if !withinBound(x) { outside.append(x) }
        }
        // Softmax's arguments x − max lie in (−∞, 0]: densely near 0.
        var y: Float = -1
        while y < 0 {
            if !withinBound(y) { outside.append(y) }
            y += max(y.ulp * 97, 1e-6)
        }
        #expect(outside.isEmpty, "\(outside.prefix(5))")
    }

    @Test("Edges: exp(0) = 1, underflow to 0 below −104, overflow to ∞ above 100, NaN stays NaN")
    func edges() {
        #expect(SleefExp.exp(0) == 1)
        #expect(SleefExp.exp(-104.5) == 0)
        #expect(SleefExp.exp(-.infinity) == 0)
        #expect(SleefExp.exp(100.5) == .infinity)
        #expect(SleefExp.exp(.infinity) == .infinity)
        #expect(SleefExp.exp(.nan).isNaN)
    }
}
