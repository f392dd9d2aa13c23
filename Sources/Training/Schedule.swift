import Foundation

/// Learning-rate schedules as transformers' `get_*_schedule_with_warmup` functions define them: a
/// multiplier of the peak learning rate for scheduler step s (0 at the first optimizer step).
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case linear, cosine, constant
    }

    public var kind: Kind
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(_ kind: Kind, peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = max(0, warmupSteps)
        self.totalSteps = max(0, totalSteps)
    }

    /// The warm-up steps of a ratio, as `TrainingArguments.get_warmup_steps`: ⌈ratio · total⌉.
    public static func warmupSteps(ratio: Double, totalSteps: Int) -> Int {
        Int((ratio * Double(totalSteps)).rounded(.up))
    }

    /// The learning rate of the optimizer step that follows `s` scheduler steps.
    public func learningRate(afterSchedulerSteps s: Int) -> Double {
        peak * multiplier(s)
    }

    public func multiplier(_ s: Int) -> Double {
        let step = Double(s), warmup = Double(warmupSteps), total = Double(totalSteps)
        if s < warmupSteps { return step / max(1, warmup) }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, (total - step) / max(1, total - warmup))
        case .cosine:
            let progress = (step - warmup) / max(1, total - warmup)
            return max(0, 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress)))
        }
    }
}
