/// PyTorch's CPU 2-norm of a contiguous row (`torch.norm(x, dim=-1)` / `linalg.vector_norm(x)`),
/// so that norms mergekit takes round exactly as torch's do. The row is reduced by one thread
/// whatever its length, so this holds for any size. Two orders, by the row's dtype:
///
/// - float32 and bfloat16 take aten's vectorised last-dimension path: 8 float32 lanes,
///   `lane += x·x` (a rounded product, then a rounded sum: no FMA) over the elements read as whole
///   vectors — 8 floats, or 16 bfloat16 values split into two 8-lane halves in order — then the
///   lanes added left to right, then the leftover elements one by one, then the square root;
/// - float16 is not on that path: one float32 accumulator from 0, element by element.
///
/// Checked against `torch.linalg.vector_norm` (torch 2.15, AVX-512 machine) on every tensor of the
/// fixture models: 0 mismatches in each dtype (mergekit's multislerp goldens are the tests).
public enum TorchNorm {
    public static func l2(count n: Int, dtype: DType, _ value: (Int) -> Float) -> Float {
        var total: Float = 0
        var covered = 0
        if dtype != .f16 {
            let lanes = 8
            covered = n - n % (dtype == .f32 ? 8 : 16)
            var acc = [Float](repeating: 0, count: lanes)
            var e = 0
            while e < covered {
                for lane in 0..<lanes {
                    let x = value(e + lane)
                    acc[lane] += x * x
                }
                e += lanes
            }
            total = acc[0]
            for lane in 1..<lanes { total += acc[lane] }
        }
        for i in covered..<n {
            let x = value(i)
            total += x * x
        }
        return total.squareRoot()
    }
}
