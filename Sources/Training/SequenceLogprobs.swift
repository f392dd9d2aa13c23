import Foundation

/// Summed completion log-probabilities of sequences (DPO's `logps`): for each row, the sum over the
/// positions t whose shifted label `labels[t + 1]` is not −100 of `log softmax(logits[t])[labels[t + 1]]`.
public enum SequenceLogprobs {
    /// - Parameters: logits per row (`length · vocab`), labels per row (`length`).
    public static func sums(logits: [[Float]], labels: [[Int]], vocab: Int) throws -> [Double] {
        zip(logits, labels).map { row, label in
            var s = 0.0
            for t in 0..<max(0, label.count - 1) where label[t + 1] != CausalLMLoss.ignoreIndex {
                s += Double(CausalLMLoss.logSoftmaxAt(row, position: t, vocab: vocab, index: label[t + 1]))
            }
            return s
        }
    }

    /// The sums, and a function from d loss / d sum (one per row) to d loss / d logits.
    public static func sumsWithGradient(logits: [[Float]], labels: [[Int]], vocab: Int)
        -> ([Double], ([Double]) -> [[Float]])
    {
        let s = (try? sums(logits: logits, labels: labels, vocab: vocab)) ?? []
        let back: ([Double]) -> [[Float]] = { weights in
            zip(zip(logits, labels), weights).map { pair, weight in
                let (row, label) = pair
                var g = [Float](repeating: 0, count: row.count)
                // d log softmax(x)[i] / dx = onehot(i) − softmax(x); scaled by −weight to reuse the CE gradient.
                for t in 0..<max(0, label.count - 1) where label[t + 1] != CausalLMLoss.ignoreIndex {
                    CausalLMLoss.softmaxGradient(row, position: t, vocab: vocab, index: label[t + 1], scale: Float(-weight), into: &g)
                }
                return g
            }
        }
        return (s, back)
    }
}
