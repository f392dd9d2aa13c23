/// How many examples (or characters) each cell — one objective in one language — contributes.
///
/// - `within: language`: the total is first divided among languages by the weighting (over each
///   language's data in the mixture's objectives), then each language's budget among objectives
///   by the shares — so the share holds inside every language, to one example.
/// - `within: overall`: the total is divided among objectives by the shares, then each
///   objective's budget among languages by the weighting over that objective's data.
///
/// Every division is Hamilton's largest-remainder method (ties to the earlier cell), so counts
/// sum exactly to the total and each is the floor or the ceiling of its exact share.
public enum Allocation {
    /// `targets[c][l]` for a total, or nil when a weighting cannot place it (UniMax caps reached).
    static func targets(
        total: Int, shares: [Double], available: [[Double]], scope: MixtureSpec.Scope, weighting: MixtureSpec.Weighting
    ) -> [[Int]]? {
        let components = shares.count
        let languages = available.first?.count ?? 0
        var out = [[Int]](repeating: [Int](repeating: 0, count: languages), count: components)
        switch scope {
        case .language:
            var perLanguage = [Double](repeating: 0, count: languages)
            for c in 0..<components where shares[c] > 0 {
                for l in 0..<languages { perLanguage[l] += available[c][l] }
            }
            guard let budgets = distribute(total, over: perLanguage, weighting) else { return nil }
            for l in 0..<languages {
                let split = apportion(budgets[l], shares)
                for c in 0..<components { out[c][l] = split[c] }
            }
        case .overall:
            let perComponent = apportion(total, shares)
            for c in 0..<components where perComponent[c] > 0 {
                guard let budgets = distribute(perComponent[c], over: available[c], weighting) else { return nil }
                out[c] = budgets
            }
        }
        return out
    }

    /// Divides `total` among languages with the given data amounts.
    static func distribute(_ total: Int, over available: [Double], _ weighting: MixtureSpec.Weighting) -> [Int]? {
        let sum = available.reduce(0, +)
        guard sum > 0 else { return total == 0 ? available.map { _ in 0 } : nil }
        switch weighting {
        case .proportional:
            return apportion(total, available)
        case .uniform:
            return apportion(total, available.map { $0 > 0 ? 1 : 0 })
        case .temperature(let alpha):
            return apportion(total, available.map { $0 > 0 ? Foundation.pow($0 / sum, alpha) : 0 })
        case .unimax(let maxEpochs):
            // UniMax (Chung et al. 2023): visit languages from the smallest; each takes an equal
            // share of what is left, capped at maxEpochs passes over its own data.
            let order = available.indices.filter { available[$0] > 0 }.sorted { (available[$0], $0) < (available[$1], $1) }
            var budgets = [Double](repeating: 0, count: available.count)
            var remaining = Double(total)
            for (k, l) in order.enumerated() {
                let b = min(remaining / Double(order.count - k), maxEpochs * available[l])
                budgets[l] = b
                remaining -= b
            }
            guard remaining < 0.5 else { return nil }
            return apportion(total, budgets)
        }
    }

    /// Largest-remainder apportionment of `total` by `weights` (all ≥ 0, not all 0 unless total is 0).
    public static func apportion(_ total: Int, _ weights: [Double]) -> [Int] {
        let sum = weights.reduce(0, +)
        guard sum > 0, total > 0 else { return weights.map { _ in 0 } }
        var counts = [Int](repeating: 0, count: weights.count)
        var remainders: [(Double, Int)] = []
        var assigned = 0
        for (i, w) in weights.enumerated() {
            let exact = Double(total) * w / sum
            let floor = Int(exact.rounded(.down))
            counts[i] = floor
            assigned += floor
            if w > 0 { remainders.append((exact - Double(floor), i)) }
        }
        remainders.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        var k = 0
        while assigned < total && !remainders.isEmpty {
            counts[remainders[k % remainders.count].1] += 1
            assigned += 1
            k += 1
        }
        return counts
    }
}

import Foundation
