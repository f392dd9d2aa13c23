/// PyTorch's CPU `torch.dot` of two bfloat16 or float16 vectors (aten's
/// `*_dot_with_fp32_arith`), so that the dots mergekit takes in those dtypes (karcher's ⟨u, Uᵢ⟩)
/// round exactly as torch's do. (float32 `dot` is BLAS's, MKL's sdot here: not reproduced.)
///
/// Layout, with 8 float32 lanes (the width this kernel runs at here): blocks of 64 elements go
/// into 8 accumulators — elements 16k…16k+7 of a block into accumulator 2k, 16k+8…16k+15 into
/// 2k+1, lane by lane — which are then added as a tree (i += i+4, i += i+2, 0 += 1) and their
/// lanes by butterfly (i⊕4, ⊕2, ⊕1); the leftover whole 16-element chunks go into one more
/// accumulator (first 8, then next 8), reduced by butterfly and added; the last < 16 elements
/// are added one by one. Products of two bf16/f16 values are exact in float32, so torch's fused
/// multiply-adds are plain sums of the products here. The result is the float32 sum (the
/// caller rounds it to the dtype).
public enum TorchDot {
    public static func reduced(count n: Int, _ x: (Int) -> Float, _ y: (Int) -> Float) -> Float {
        let lanes = 8, perBlock = 64, chunk = 16
        @inline(__always) func butterfly(_ v: [Float]) -> Float {
            var v = v
            var s = lanes / 2
            while s >= 1 {
                v = (0..<lanes).map { v[$0] + v[$0 ^ s] }
                s /= 2
            }
            return v[0]
        }
        let blocked = n & ~(perBlock - 1)
        var sums = [[Float]](repeating: [Float](repeating: 0, count: lanes), count: 8)
        var j = 0
        while j < blocked {
            for r in 0..<8 {
                for l in 0..<lanes {
                    let e = j + r * lanes + l
                    sums[r][l] += x(e) * y(e)
                }
            }
            j += perBlock
        }
        var offset = 8
        while offset > 1 {
            offset /= 2
            for i in 0..<offset { for l in 0..<lanes { sums[i][l] += sums[offset + i][l] } }
        }
        var total = butterfly(sums[0])
        let chunked = n & ~(chunk - 1)
        var tail = [Float](repeating: 0, count: lanes)
        j = blocked
        while j < chunked {
            for l in 0..<chunk { tail[l % lanes] += x(j + l) * y(j + l) }
            j += chunk
        }
        total += butterfly(tail)
        for e in chunked..<n { total += x(e) * y(e) }
        return total
    }
}
