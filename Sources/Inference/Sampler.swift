import Foundation
import Tensors

/// How the next token is chosen from a model's logits: the settings of an OpenAI-style request
/// (`temperature`, `top_p`, `frequency_penalty`, `presence_penalty`, `seed`) and of vLLM and
/// transformers (`top_k`, `min_p`, `repetition_penalty`).
public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 means greedy: the most likely token (the lowest id among equal logits).
    public var temperature: Double = 1
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches `topP` (1 = off).
    public var topP: Double = 1
    /// Keep the `topK` most likely tokens (0 = off).
    public var topK: Int = 0
    /// Drop tokens whose probability is below `minP` times the most likely token's (0 = off).
    public var minP: Double = 0
    /// transformers' (CTRL's) repetition penalty over the prompt and the generated tokens (1 = off).
    public var repetitionPenalty: Double = 1
    /// OpenAI's frequency penalty: subtracted once per earlier occurrence in the generated tokens.
    public var frequencyPenalty: Double = 0
    /// OpenAI's presence penalty: subtracted once from every token already generated.
    public var presencePenalty: Double = 0
    /// The seed of the request's random stream; the same seed, model and prompt give the same tokens.
    public var seed: UInt64 = 0

    public init(temperature: Double = 1, topP: Double = 1, topK: Int = 0, minP: Double = 0,
                repetitionPenalty: Double = 1, frequencyPenalty: Double = 0, presencePenalty: Double = 0,
                seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters(temperature: 0)

    public var isGreedy: Bool { temperature <= 0 }

    /// What is out of the ranges OpenAI and vLLM accept (naming the setting), or nil.
    public var problem: String? {
        do { try validate() } catch { return error.description }
        return nil
    }

    /// Checks the ranges OpenAI and vLLM accept; the message names the setting.
    public func validate() throws(SamplingError) {
        guard temperature.isFinite, temperature >= 0 else { throw .invalid("temperature must be ≥ 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw .invalid("top_p must be in (0, 1], got \(topP)") }
        guard topK >= 0 else { throw .invalid("top_k must be ≥ 0 (0 = off), got \(topK)") }
        guard minP >= 0, minP <= 1 else { throw .invalid("min_p must be in [0, 1], got \(minP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw .invalid("repetition_penalty must be > 0, got \(repetitionPenalty)")
        }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else {
            throw .invalid("frequency_penalty must be in [-2, 2], got \(frequencyPenalty)")
        }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else {
            throw .invalid("presence_penalty must be in [-2, 2], got \(presencePenalty)")
        }
    }
}

/// A sampling setting out of range.
public enum SamplingError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String { if case .invalid(let m) = self { m } else { "" } }
}

/// The next-token chooser of one sequence: applies penalties and warpers to the logits in transformers'
/// order (repetition penalty, frequency/presence penalties, then temperature, top-k, top-p, min-p) and
/// draws from the result with the sequence's own xoshiro256** stream, so that a request's tokens do not
/// depend on the other requests decoded in the same batch.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: Xoshiro256StarStar
    /// How often each token occurs among the generated tokens (frequency and presence penalties).
    private var generatedCounts: [Int32: Int] = [:]
    /// Every token of the prompt and of the output (repetition penalty).
    private var seen: Set<Int32> = []

    public init(_ parameters: SamplingParameters, prompt: [Int32] = []) {
        self.parameters = parameters
        self.random = Xoshiro256StarStar(seed: parameters.seed, purpose: "sampling")
        if parameters.repetitionPenalty != 1 { seen = Set(prompt) }
    }

    /// Records a token that was appended to the sequence.
    public mutating func accept(_ token: Int32) {
        if parameters.frequencyPenalty != 0 || parameters.presencePenalty != 0 { generatedCounts[token, default: 0] += 1 }
        if parameters.repetitionPenalty != 1 { seen.insert(token) }
    }

    /// Chooses the next token from `logits` (modified in place by the penalties and warpers).
    public mutating func next(logits: inout [Float]) -> Int32 {
        logits.withUnsafeMutableBufferPointer { next(logits: $0) }
    }

    /// Chooses the next token from `logits` (modified in place by the penalties and warpers).
    public mutating func next(logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        applyPenalties(logits)
        if parameters.isGreedy { return Int32(Self.argmax(UnsafeBufferPointer(logits))) }
        Self.warp(logits, parameters)
        return Int32(Self.draw(UnsafeBufferPointer(logits), unit: random.unit()))
    }

    /// The repetition penalty (transformers: a negative logit is multiplied by the penalty, a positive
    /// one divided) and OpenAI's frequency and presence penalties.
    public func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>) {
        if parameters.repetitionPenalty != 1 {
            let p = Float(parameters.repetitionPenalty)
            for t in seen where Int(t) < logits.count && t >= 0 {
                let v = logits[Int(t)]
                logits[Int(t)] = v < 0 ? v * p : v / p
            }
        }
        if parameters.frequencyPenalty != 0 || parameters.presencePenalty != 0 {
            for (t, c) in generatedCounts where Int(t) < logits.count && t >= 0 {
                logits[Int(t)] -= Float(Double(c) * parameters.frequencyPenalty + parameters.presencePenalty)
            }
        }
    }

    /// Temperature, top-k, top-p and min-p, each as transformers' logits warper of that name
    /// (a removed token's logit becomes −∞; at least one token is always kept).
    public static func warp(_ logits: UnsafeMutableBufferPointer<Float>, _ p: SamplingParameters) {
        let n = logits.count
        guard n > 0 else { return }
        if p.temperature > 0, p.temperature != 1 {
            let t = Float(p.temperature)
            for i in 0..<n { logits[i] /= t }
        }
        if p.topK > 0, p.topK < n {
            // Keep every logit ≥ the k-th largest (torch.topk's value), as TopKLogitsWarper does.
            var values = Array(logits)
            let k = p.topK
            values.withUnsafeMutableBufferPointer { nthLargest($0, k - 1) }
            let threshold = values[k - 1]
            for i in 0..<n where logits[i] < threshold { logits[i] = -.infinity }
        }
        if p.topP < 1 { topP(logits, Float(p.topP)) }
        if p.minP > 0 {
            let maxLogit = logits.max() ?? 0
            // probs < min_p · max_prob  ⇔  exp(l − max) < min_p
            let cut = Float(p.minP)
            var kept = 0
            for i in 0..<n {
                if exp(logits[i] - maxLogit) < cut { logits[i] = -.infinity } else { kept += 1 }
            }
            if kept == 0, let best = (0..<n).max(by: { logits[$0] < logits[$1] }) { logits[best] = maxLogit }
        }
    }

    /// TopPLogitsWarper: sort ascending (torch's unstable CPU sort, replayed by `IntroSort`, so tied
    /// logits fall on the same side of the cut as in transformers), remove the tokens whose cumulative
    /// probability is ≤ 1 − top_p, and always keep the most likely one.
    static func topP(_ logits: UnsafeMutableBufferPointer<Float>, _ topP: Float) {
        let n = logits.count
        guard let maxLogit = logits.max(), maxLogit.isFinite else { return }
        let order = IntroSort.argsort(UnsafeBufferPointer(logits))
        var total: Float = 0
        for i in 0..<n { total += exp(logits[i] - maxLogit) }
        let limit = (1 - topP) * total
        var cumulative: Float = 0
        for position in 0..<(n - 1) {
            let i = Int(order[position])
            cumulative += exp(logits[i] - maxLogit)
            guard cumulative <= limit else { break }
            logits[i] = -.infinity
        }
    }

    /// The index of the largest value (the lowest index among equal ones; NaN never wins).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return best
    }

    /// Draws an index with probability softmax(logits), by inverse CDF over the ids in order.
    public static func draw(_ logits: UnsafeBufferPointer<Float>, unit: Double) -> Int {
        guard let maxLogit = logits.max(), maxLogit.isFinite else { return argmax(logits) }
        var total = 0.0
        for l in logits { total += Double(exp(l - maxLogit)) }
        let target = unit * total
        var cumulative = 0.0
        var last = 0
        for i in 0..<logits.count {
            let e = Double(exp(logits[i] - maxLogit))
            if e == 0 { continue }
            cumulative += e
            last = i
            if cumulative > target { return i }
        }
        return last
    }

    /// Moves the `k`-th largest value (0-based) of `values` to position `k`, larger ones before it.
    static func nthLargest(_ values: UnsafeMutableBufferPointer<Float>, _ k: Int) {
        var lo = 0
        var hi = values.count - 1
        while lo < hi {
            let pivot = values[(lo + hi) / 2]
            var i = lo
            var j = hi
            while i <= j {
                while values[i] > pivot { i += 1 }
                while values[j] < pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return }
        }
    }
}

/// Log-probabilities of a logits row: the chosen token's and the `count` most likely alternatives',
/// computed from the model's raw logits (before penalties and warpers, as vLLM reports them by default).
public struct TokenLogprobs: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public var top: [(token: Int32, logprob: Float)]

    public static func == (a: TokenLogprobs, b: TokenLogprobs) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.count == b.top.count
            && zip(a.top, b.top).allSatisfy { $0.token == $1.token && $0.logprob == $1.logprob }
    }

    public init(logits: UnsafeBufferPointer<Float>, chosen: Int32, top count: Int) {
        let maxLogit = logits.max() ?? 0
        var sum = 0.0
        for l in logits { sum += Double(exp(l - maxLogit)) }
        let logZ = Float(log(sum)) + maxLogit
        token = chosen
        logprob = Int(chosen) < logits.count ? logits[Int(chosen)] - logZ : -.infinity
        guard count > 0 else {
            top = []
            return
        }
        // A small running top list: O(V · count) with count ≤ 20.
        var best: [(Int32, Float)] = []
        best.reserveCapacity(count + 1)
        for i in 0..<logits.count {
            let v = logits[i]
            if best.count == count, let last = best.last, v <= last.1 { continue }
            var position = best.count
            while position > 0, best[position - 1].1 < v { position -= 1 }
            best.insert((Int32(i), v), at: position)
            if best.count > count { best.removeLast() }
        }
        top = best.map { (token: $0.0, logprob: $0.1 - logZ) }
    }
}
