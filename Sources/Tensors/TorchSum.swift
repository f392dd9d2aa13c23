/// PyTorch's CPU float32 sum of a contiguous tensor (the `cascade_sum` of aten's SumKernel), so that
/// sums mergekit takes with `tensor.sum()` — DARE/DELLA's L1 rescale — round exactly as torch's do.
///
/// Layout: the data is read as `vectorWidth`-lane vectors (16 with AVX-512, 8 with AVX2); groups of
/// 4 consecutive vectors are summed with a 4-level cascade whose level size is
/// 2^max(4, ⌈log2(groups)⌉/4); the leftover vectors, then the 4 group lanes, then the scalar tail,
/// then the vector lanes are added in that order. Valid for tensors torch sums in one chunk
/// (≤ 32 768 elements, or one thread).
public enum TorchSum {
    /// Tensors up to this many elements are summed by torch in one chunk (its parallel grain
    /// size), so `cascade` reproduces its sum whatever torch's thread count.
    public static let singleChunk = 32768

    public static func cascade(count n: Int, vectorWidth v: Int = 16, _ value: (Int) -> Float) -> Float {
        let vectors = n / v
        let groups = vectors / 4
        var partial = [[Float]](repeating: [Float](repeating: 0, count: v), count: 4)  // 4 rows (ilp)
        // multi_row_sum over `groups` rows of 4 vectors each.
        let levels = 4
        let power = max(4, ceilLog2(groups) / levels)
        let step = 1 << power
        let mask = step - 1
        var acc = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: v), count: 4), count: levels)
        var i = 0
        @inline(__always) func addRow(_ row: Int, into level: Int) {
            for k in 0..<4 {
                let base = (row * 4 + k) * v
                for lane in 0..<v { acc[level][k][lane] += value(base + lane) }
            }
        }
        while i + step <= groups {
            for _ in 0..<step {
                addRow(i, into: 0)
                i += 1
            }
            for j in 1..<levels {
                for k in 0..<4 {
                    for lane in 0..<v { acc[j][k][lane] += acc[j - 1][k][lane] }
                    acc[j - 1][k] = [Float](repeating: 0, count: v)
                }
                if i & (mask << (j * power)) != 0 { break }
            }
        }
        while i < groups {
            addRow(i, into: 0)
            i += 1
        }
        for j in 1..<levels {
            for k in 0..<4 { for lane in 0..<v { acc[0][k][lane] += acc[j][k][lane] } }
        }
        partial = acc[0]
        // Leftover vectors go into row 0, then rows 1…3 are added to it.
        for vec in (groups * 4)..<vectors {
            for lane in 0..<v { partial[0][lane] += value(vec * v + lane) }
        }
        for k in 1..<4 { for lane in 0..<v { partial[0][lane] += partial[k][lane] } }
        var total: Float = 0
        for e in (vectors * v)..<n { total += value(e) }
        for lane in 0..<v { total += partial[0][lane] }
        return total
    }

    static func ceilLog2(_ x: Int) -> Int {
        guard x > 1 else { return 0 }
        return Int.bitWidth - (x - 1).leadingZeroBitCount
    }
}
