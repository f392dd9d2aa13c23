import Testing

@testable import Tensors

/// The vectorised task-vector kernel against a plain per-element reference of the same formula.
@Suite("Task-vector kernel")
struct TaskVectorKernelTests {
    /// Per element, straight from the formula in `TaskVectorKernel`'s documentation.
    static func reference(
        base: [Float], xs: [[Float]], weights: [Float], keep: [Bitmask?], bands: [MagnitudeBand?], scales: [Float?], scaleDType: DType,
        compute d: DType, options o: TaskVectorKernel.Options, offset: Int
    ) -> [Float] {
        func r(_ v: Float) -> Float { Rounding.round(v, to: d) }
        return base.indices.map { i in
            let deltas = xs.indices.map { j -> Float in
                var v = r(xs[j][i] - base[i])
                if let k = keep[j], !k[offset + i] { v = 0 }
                if let band = bands[j], !band.keeps(v.magnitude.bitPattern) { v = 0 }
                if let s = scales[j] { v = r(Rounding.round(v * s, to: scaleDType)) }
                return r(v * weights[j])
            }
            var mixed: Float, divisor = o.divisor
            if o.consensus {
                let positive = r(deltas.dropFirst().reduce(deltas[0], +)) >= 0
                var sum: Float = 0, w: Float = 0
                for (j, v) in deltas.enumerated() {
                    let agrees = positive ? v > 0 : v < 0
                    if j == 0 { sum = agrees ? v : 0; w = agrees ? weights[j] : 0 } else { sum += agrees ? v : 0; w += agrees ? weights[j] : 0 }
                }
                mixed = r(sum)
                divisor = r(w) == 0 ? 1 : r(w)
            } else {
                mixed = r(deltas.dropFirst().reduce(deltas[0], +))
            }
            if o.normalize { mixed = r(mixed / divisor) }
            if let l = o.lambda { mixed = r(mixed * l) }
            return r(base[i] + mixed)
        }
    }

    /// Modes: bit 0 = sign consensus; bit 1 = special inputs (NaN, ±∞, magnitudes past 2⁶⁴) that
    /// send blocks down the kernel's full-rounding path.
    @Test("equals the per-element reference", arguments: [DType.bf16, .f16, .f32], [0, 1, 2, 3])
    func matches(compute: DType, mode: Int) {
        let consensus = mode & 1 != 0, specials = mode & 2 != 0
        let n = 1003, offset = 64
        func values(_ seed: UInt64) -> [Float] {
            KernelTests.random(n, seed: seed).enumerated().map { i, v in
                let x = Rounding.round(v * 0.1, to: compute)
                return i % 17 == 0 ? 0 : (i % 29 == 0 ? -x : x)
            }
        }
        var base = values(1)
        var xs = [values(2), values(3), values(4)]
        if specials {
            base[100] = .nan
            base[200] = .infinity
            xs[0][300] = -.infinity
            xs[1][300] = .infinity
            xs[2][400] = Rounding.round(3e30, to: compute)
            xs[0][500] = Float(bitPattern: 0x7F80_0001)  // a NaN with only low payload bits
        }
        for i in stride(from: 0, to: n, by: 11) { xs[1][i] = base[i] }  // zero deltas
        for i in stride(from: 5, to: n, by: 13) { xs[2][i] = Rounding.round(2 * base[i] - xs[0][i], to: compute) }  // opposite deltas
        let weights = [0.3, -0.5, 0.9].map { Rounding.round(Double($0), to: compute) }
        let masks: [Bitmask?] = [nil, Bitmask(count: offset + n), Bitmask(count: offset + n)]
        for i in 0..<(offset + n) where i % 3 != 0 { masks[1]!.set(i) }
        for i in 0..<(offset + n) where i % 5 < 2 { masks[2]!.set(i) }
        let scales: [Float?] = [nil, Rounding.round(Float(1.7), to: compute == .bf16 ? .bf16 : .f32), nil]
        // Bands at magnitudes that occur (so the equal-to-boundary lanes are exercised both ways).
        let magnitude = { (j: Int, i: Int) in Rounding.round(xs[j][i] - base[i], to: compute).magnitude.bitPattern }
        let bands: [MagnitudeBand?] = [
            MagnitudeBand(low: magnitude(0, 10), keepLow: false, high: UInt32.max, keepHigh: true),
            nil,
            MagnitudeBand(low: magnitude(2, 20), keepLow: true, high: magnitude(2, 40), keepHigh: false),
        ]
        let scaleDType: DType = compute == .bf16 ? .bf16 : .f32
        for options in [
            TaskVectorKernel.Options(consensus: consensus, normalize: true, divisor: Rounding.round(0.7, to: compute), lambda: 0.8),
            TaskVectorKernel.Options(consensus: consensus, normalize: false, divisor: 1, lambda: nil),
        ] {
            let expected = Self.reference(
                base: base, xs: xs, weights: weights, keep: masks, bands: bands, scales: scales, scaleDType: scaleDType,
                compute: compute, options: options, offset: offset)
            var out = [Float](repeating: .nan, count: n)
            base.withUnsafeBufferPointer { b in
                xs[0].withUnsafeBufferPointer { x0 in
                    xs[1].withUnsafeBufferPointer { x1 in
                        xs[2].withUnsafeBufferPointer { x2 in
                            let ptrs = [x0.baseAddress!, x1.baseAddress!, x2.baseAddress!]
                            let inputs = (0..<3).map {
                                TaskVectorInput(
                                    x: ptrs[$0], weight: weights[$0], keep: masks[$0], band: bands[$0], scale: scales[$0], scaleDType: scaleDType)
                            }
                            out.withUnsafeMutableBufferPointer { o in
                                TaskVectorKernel.merge(
                                    base: b.baseAddress!, inputs: inputs, compute: compute, options: options,
                                    offset: offset, count: n, into: o.baseAddress!)
                            }
                        }
                    }
                }
            }
            let mismatches = (0..<n).filter { out[$0].bitPattern != expected[$0].bitPattern && !(out[$0].isNaN && expected[$0].isNaN) }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5).map { "\($0): \(out[$0]) vs \(expected[$0])" })")

            guard compute == .bf16 else { continue }
            // The stored-bfloat16 path (pairs of elements per 32-bit lane) on the same values.
            let stored = ([base] + xs).map { $0.map { Rounding.narrowBF16($0) } }
            var packed = [UInt16](repeating: 0, count: n)
            stored[0].withUnsafeBytes { b in
                stored[1].withUnsafeBytes { x0 in
                    stored[2].withUnsafeBytes { x1 in
                        stored[3].withUnsafeBytes { x2 in
                            let ptrs = [x0.baseAddress!, x1.baseAddress!, x2.baseAddress!]
                            let inputs = (0..<3).map {
                                TaskVectorInput(
                                    x: ptrs[$0], weight: weights[$0], keep: masks[$0], band: bands[$0], scale: scales[$0], scaleDType: scaleDType)
                            }
                            packed.withUnsafeMutableBytes { o in
                                TaskVectorKernel.mergeStoredBF16(
                                    base: b.baseAddress!, inputs: inputs, options: options, offset: offset, count: n, into: o.baseAddress!)
                            }
                        }
                    }
                }
            }
            let storedMismatches = (0..<n).filter {
                packed[$0] != Rounding.narrowBF16(expected[$0]) && !(expected[$0].isNaN && Float(bitPattern: UInt32(packed[$0]) << 16).isNaN)
            }
            #expect(storedMismatches.isEmpty, "stored: \(storedMismatches.prefix(5))")
        }
    }

    @Test("a band's inclusive range keeps exactly what the band keeps")
    func bandRange() {
        let edges: [UInt32] = [0, 1, 2, 0x3C00_0000, 0x3C00_0001, 0x7F80_0000, 0x7FFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, UInt32.max]
        let magnitudes = edges.filter { $0 < 0x8000_0000 } + [0x3BFF_FFFF, 0x7FC0_0000]
        for low in edges {
            for high in edges {
                for keepLow in [false, true] {
                    for keepHigh in [false, true] {
                        let band = MagnitudeBand(low: low, keepLow: keepLow, high: high, keepHigh: keepHigh)
                        let (first, last) = band.inclusive
                        for x in magnitudes {
                            // The kernel's test: both differences non-negative as 32-bit signed values.
                            let kept = ((x &- first) | (last &- x)) >> 31 == 0
                            #expect(kept == band.keeps(x), "band \(band), |δ| bits \(x)")
                        }
                    }
                }
            }
        }
    }

    @Test("bfloat16 rounding of eight lanes equals the scalar rounding")
    func round8() {
        let values = RoundingTests.specials + KernelTests.random(4000, seed: 77)
        var i = 0
        while i + 8 <= values.count {
            let v = SIMD8<Float>(values[i..<(i + 8)])
            let r = BF16Format.round8(v)
            for k in 0..<8 { #expect(r[k].bitPattern == Rounding.toBF16(values[i + k]).bitPattern) }
            i += 8
        }
    }
}
