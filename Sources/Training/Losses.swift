import Foundation

/// transformers' causal-LM loss over a batch of right-padded rows, and its gradient with respect to the
/// logits: position t predicts `labels[t + 1]`; every position whose shifted label is not −100 counts;
/// the mean is over all such tokens of the batch (not per sequence).
public enum CausalLMLoss {
    public static let ignoreIndex = -100

    public struct Result: Sendable {
        /// The mean cross-entropy.
        public var loss: Double
        /// Tokens the mean is over.
        public var labelTokens: Int
        /// `log softmax(logits[b, t])[labels[b, t + 1]]` where counted, else 0: `[rows, length − 1]`.
        public var tokenLogprobs: [[Float]]
        /// d loss / d logits, `[rows][length · vocab]` (zero rows where nothing is counted), when asked for.
        public var logitGradients: [[Float]]?
    }

    /// - Parameters:
    ///   - logits: per row, `length · vocab` floats (row-major by position).
    ///   - labels: per row, `length` labels (−100 = not counted).
    public static func compute(logits: [[Float]], labels: [[Int]], vocab: Int, gradients: Bool) -> Result {
        var total = 0.0
        var count = 0
        var logprobs: [[Float]] = []
        for (row, label) in zip(logits, labels) {
            var lp = [Float](repeating: 0, count: max(0, label.count - 1))
            for t in 0..<max(0, label.count - 1) where label[t + 1] != ignoreIndex {
                let v = logSoftmaxAt(row, position: t, vocab: vocab, index: label[t + 1])
                lp[t] = v
                total -= Double(v)
                count += 1
            }
            logprobs.append(lp)
        }
        var grads: [[Float]]?
        if gradients {
            let scale = count > 0 ? Float(1.0 / Double(count)) : 0
            grads = zip(logits, labels).map { row, label in
                var g = [Float](repeating: 0, count: row.count)
                for t in 0..<max(0, label.count - 1) where label[t + 1] != ignoreIndex {
                    softmaxGradient(row, position: t, vocab: vocab, index: label[t + 1], scale: scale, into: &g)
                }
                return g
            }
        }
        return Result(loss: count > 0 ? total / Double(count) : 0, labelTokens: count, tokenLogprobs: logprobs, logitGradients: grads)
    }

    /// `log softmax(row[position])[index]`, the softmax's sum in double precision.
    static func logSoftmaxAt(_ row: [Float], position t: Int, vocab: Int, index: Int) -> Float {
        let base = t * vocab
        var m = -Float.infinity
        for i in 0..<vocab { m = max(m, row[base + i]) }
        var z = 0.0
        for i in 0..<vocab { z += Double(exp(row[base + i] - m)) }
        return Float(Double(row[base + index] - m) - log(z))
    }

    /// Adds `scale · (softmax(row[position]) − onehot(index))` to `g[position]`.
    static func softmaxGradient(_ row: [Float], position t: Int, vocab: Int, index: Int, scale: Float, into g: inout [Float]) {
        let base = t * vocab
        var m = -Float.infinity
        for i in 0..<vocab { m = max(m, row[base + i]) }
        var z = 0.0
        for i in 0..<vocab { z += Double(exp(row[base + i] - m)) }
        let inv = 1 / z
        for i in 0..<vocab { g[base + i] += scale * Float(Double(exp(row[base + i] - m)) * inv) }
        g[base + index] -= scale
    }
}

/// TRL's sigmoid DPO loss from summed completion log-probabilities, with its logged metrics and the
/// loss's gradient with respect to the policy's log-probabilities.
public enum DPOLoss {
    public enum Variant: String, Sendable, Codable {
        /// `−log σ(β·Δ)`, or with label smoothing ε the conservative form
        /// `−(1 − ε)·log σ(β·Δ) − ε·log σ(−β·Δ)` (what TRL 0.x's "sigmoid" computed).
        case sigmoid
        /// TRL's `robust`: `(−(1 − ε)·log σ(β·Δ) + ε·log σ(−β·Δ)) / (1 − 2ε)`.
        case robust
    }

    public struct Result: Sendable, Equatable {
        /// The mean over pairs.
        public var loss: Double
        public var lossesPerPair: [Double]
        /// `β·(π_c − ref_c)` and `β·(π_r − ref_r)` per pair.
        public var chosenRewards: [Double]
        public var rejectedRewards: [Double]
        public var margins: [Double] { zip(chosenRewards, rejectedRewards).map { $0 - $1 } }
        /// Share of pairs whose chosen reward exceeds the rejected one.
        public var accuracy: Double
        /// d loss / d π_c and d loss / d π_r per pair.
        public var chosenGradients: [Double]
        public var rejectedGradients: [Double]
    }

    /// - Parameters: summed log-probabilities of each pair's chosen and rejected completion, under the
    ///   policy and the reference model.
    public static func compute(policyChosen: [Double], policyRejected: [Double], referenceChosen: [Double],
                               referenceRejected: [Double], beta: Double, labelSmoothing: Double = 0,
                               variant: Variant = .sigmoid) -> Result {
        let n = policyChosen.count
        var losses: [Double] = [], gc: [Double] = [], gr: [Double] = [], cr: [Double] = [], rr: [Double] = []
        for i in 0..<n {
            let delta = (policyChosen[i] - referenceChosen[i]) - (policyRejected[i] - referenceRejected[i])
            let x = beta * delta
            let e = labelSmoothing
            let loss: Double
            let dLossDx: Double
            switch variant {
            case .sigmoid:
                loss = -(1 - e) * logSigmoid(x) - e * logSigmoid(-x)
                dLossDx = -(1 - e) * sigmoid(-x) + e * sigmoid(x)
            case .robust:
                loss = (-(1 - e) * logSigmoid(x) + e * logSigmoid(-x)) / (1 - 2 * e)
                dLossDx = (-(1 - e) * sigmoid(-x) - e * sigmoid(x)) / (1 - 2 * e)
            }
            losses.append(loss)
            gc.append(dLossDx * beta / Double(n))
            gr.append(-dLossDx * beta / Double(n))
            cr.append(beta * (policyChosen[i] - referenceChosen[i]))
            rr.append(beta * (policyRejected[i] - referenceRejected[i]))
        }
        let accuracy = n > 0 ? Double(zip(cr, rr).filter { $0 > $1 }.count) / Double(n) : 0
        return Result(loss: n > 0 ? losses.reduce(0, +) / Double(n) : 0, lossesPerPair: losses, chosenRewards: cr,
                      rejectedRewards: rr, accuracy: accuracy, chosenGradients: gc, rejectedGradients: gr)
    }

    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }
    static func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }
}
