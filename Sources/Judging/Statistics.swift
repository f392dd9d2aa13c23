import Foundation
import Tensors

/// An estimate with a 95 % interval.
public struct Interval: Sendable, Codable, Equatable {
    public var estimate: Double
    public var low: Double
    public var high: Double

    public init(_ estimate: Double, _ low: Double, _ high: Double) {
        self.estimate = estimate
        self.low = low
        self.high = high
    }
}

/// The statistics of the evaluation, each checked in the tests against a closed form.
public enum Statistics {
    /// Two-sided 95 % normal quantile.
    public static let z95 = 1.959963984540054

    /// Wilson score interval for k successes in n trials (Wilson 1927); nil for n = 0.
    public static func wilson(_ k: Int, _ n: Int, z: Double = z95) -> Interval? {
        guard n > 0 else { return nil }
        let p = Double(k) / Double(n), nd = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * nd)) / (1 + z2 / nd)
        let half = z / (1 + z2 / nd) * (p * (1 - p) / nd + z2 / (4 * nd * nd)).squareRoot()
        return Interval(p, max(0, centre - half), min(1, centre + half))
    }

    /// Percentile bootstrap that resamples whole clusters (e.g. a source prompt and all its
    /// translations) with replacement. Each cluster contributes a vector of sums; a replicate adds
    /// the sums of the drawn clusters and applies `statistic` (nil = undefined, skipped). Seeded
    /// with mixmerge's documented PRNG, so intervals are repeatable.
    public static func clusterBootstrap(
        _ clusterSums: [[Double]], replicates: Int = 2000, seed: UInt64 = 0, purpose: String = "bootstrap",
        _ statistic: ([Double]) -> Double?
    ) -> (low: Double, high: Double)? {
        guard let width = clusterSums.first?.count, !clusterSums.isEmpty else { return nil }
        var rng = Xoshiro256StarStar(seed: seed, purpose: purpose)
        var values: [Double] = []
        values.reserveCapacity(replicates)
        var totals = [Double](repeating: 0, count: width)
        for _ in 0..<replicates {
            for j in 0..<width { totals[j] = 0 }
            for _ in 0..<clusterSums.count {
                let c = clusterSums[rng.below(clusterSums.count)]
                for j in 0..<width { totals[j] += c[j] }
            }
            if let v = statistic(totals), v.isFinite { values.append(v) }
        }
        guard values.count >= replicates / 2 else { return nil }
        values.sort()
        return (quantile(values, 0.025), quantile(values, 0.975))
    }

    /// Linear-interpolation quantile of sorted values (NumPy's default, "linear").
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down)), hi = min(sorted.count - 1, lo + 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    /// Sums per cluster: `rows[i]` belongs to `clusters[i]`; clusters in first-seen order.
    public static func sumByCluster(_ clusters: [String], _ rows: [[Double]]) -> [[Double]] {
        var index: [String: Int] = [:]
        var out: [[Double]] = []
        for (c, row) in zip(clusters, rows) {
            if let i = index[c] {
                for j in row.indices { out[i][j] += row[j] }
            } else {
                index[c] = out.count
                out.append(row)
            }
        }
        return out
    }
}

/// A candidate's pairwise result against the reference on one prompt, after both orders.
public enum PairOutcome: String, Sendable, Codable {
    case win, tie, loss
    /// At least one order could not be read (counted, not scored).
    case unparsable

    /// Combines the verdicts of the two orders: `first` with the candidate shown as A, `second`
    /// with it shown as B. Both orders must agree for a win or a loss; a pair that flips (or where
    /// one order says tie) is a tie (FastChat's rule).
    public static func combine(first: PairVerdict, second: PairVerdict) -> PairOutcome {
        func forCandidate(_ v: PairVerdict, candidateIs a: Bool) -> PairOutcome? {
            switch v {
            case .a: a ? .win : .loss
            case .b: a ? .loss : .win
            case .tie: .tie
            case .unparsable: nil
            }
        }
        guard let x = forCandidate(first, candidateIs: true), let y = forCandidate(second, candidateIs: false) else { return .unparsable }
        return x == y ? x : .tie
    }

    /// Whether the two orders contradict each other outright (one win, one loss).
    public static func flipped(first: PairVerdict, second: PairVerdict) -> Bool {
        (first == .a && second == .a) || (first == .b && second == .b)
    }
}

/// How ties count in a win-rate.
public enum TiePolicy: String, Sendable, Codable, CaseIterable {
    /// (wins + ties/2) / all.
    case half
    /// wins / (wins + losses).
    case excluded

    public func rate(wins: Double, ties: Double, losses: Double) -> Double? {
        switch self {
        case .half: let n = wins + ties + losses; return n > 0 ? (wins + ties / 2) / n : nil
        case .excluded: let n = wins + losses; return n > 0 ? wins / n : nil
        }
    }
}
