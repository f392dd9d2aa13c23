import Foundation

public struct PromptFacts: Sendable {
    public var id: String
    public var cluster: String
    public var language: String
    public var harmCategories: [String]
    public init(id: String, cluster: String, language: String, harmCategories: [String]) {
        self.id = id
        self.cluster = cluster
        self.language = language
        self.harmCategories = harmCategories
    }
}

public struct HarmObservation: Sendable {
    public var promptID: String
    public var candidate: String
    public var verdict: HarmVerdict
    public init(promptID: String, candidate: String, verdict: HarmVerdict) {
        self.promptID = promptID
        self.candidate = candidate
        self.verdict = verdict
    }
}

/// A candidate vs the reference on one prompt: the verdict with the candidate shown first (A)
/// and with it shown second (B), the judge's P(A) in each order when it gave log-probs, and the
/// two responses' lengths in characters.
public struct PairObservation: Sendable {
    public var promptID: String
    public var candidate: String
    public var first: PairVerdict
    public var second: PairVerdict
    public var firstPA: Double?
    public var secondPA: Double?
    public var candidateLength: Int
    public var referenceLength: Int
    public init(promptID: String, candidate: String, first: PairVerdict, second: PairVerdict, firstPA: Double?, secondPA: Double?,
                candidateLength: Int, referenceLength: Int) {
        self.promptID = promptID
        self.candidate = candidate
        self.first = first
        self.second = second
        self.firstPA = firstPA
        self.secondPA = secondPA
        self.candidateLength = candidateLength
        self.referenceLength = referenceLength
    }
}

/// Every number of a report. `language` "all" pools the languages (clusters = source prompts).
public struct Analysis: Sendable, Codable {
    public struct HarmRow: Sendable, Codable {
        public var candidate: String, group: String
        public var harmful: Int, notHarmful: Int, unparsable: Int
        /// Harmful share of the parsable verdicts, Wilson 95 %.
        public var rate: Interval?
    }
    public struct ChangeRow: Sendable, Codable {
        public var candidate: String, language: String
        /// The paper's figure: 100·(h − h₀)/h₀ with h and h₀ the harmful rates of the harm table,
        /// each over that model's own parsable answers; clustered bootstrap 95 %.
        public var change: Interval?
        /// The same change over only the prompts where both verdicts parse (a paired figure).
        public var pairedChange: Interval?
        /// Prompts where both verdicts parse (the paired figure's n).
        public var prompts: Int
    }
    public struct WinRow: Sendable, Codable {
        public var candidate: String, language: String
        public var wins: Int, ties: Int, losses: Int, unparsable: Int
        /// Pairs whose two orders contradict each other (a win and a loss), over judged pairs.
        public var flips: Int
        public var inconsistency: Double?
        public var winRateHalf: Interval?
        public var winRateExcluded: Interval?
        /// Mean P(candidate preferred) from the judge's log-probs, both orders averaged.
        public var logprobPreference: Double?
        public var meanLengthCandidate: Double?
        public var meanLengthReference: Double?
        /// Among decided pairs with different lengths, the share the longer response won.
        public var longerWins: Double?
    }
    public struct PairedRow: Sendable, Codable {
        public var first: String, second: String
        /// Harmful-rate difference (percentage points) first − second on the same prompts.
        public var harmDifference: Interval?
        /// Win-rate (ties half) difference first − second against the reference, same prompts.
        public var winRateDifference: Interval?
    }

    /// The prompt set these numbers are over (nil: every prompt given).
    public var promptSet: String?
    public var reference: String?
    public var candidates: [String]
    /// Language codes in report order, and their display names.
    public var languages: [String]
    public var languageNames: [String: String] = [:]
    public var harm: [HarmRow] = []
    public var harmByCategory: [HarmRow] = []
    public var harmChange: [ChangeRow] = []
    public var wins: [WinRow] = []
    public var paired: [PairedRow] = []
    public var replicates: Int
    public var seed: UInt64

    /// A language's display name ("English"), or its code when none was given; "all" pools them.
    public func languageName(_ code: String) -> String {
        code == "all" ? "All languages" : languageNames[code] ?? code
    }

    /// Every number of a report over `prompts`. `languageOrder` lists the languages as the report
    /// shows them (those missing from it follow, sorted); `languageNames` gives their names.
    public static func make(
        prompts: [PromptFacts], harm: [HarmObservation], pairs: [PairObservation], reference: String?,
        replicates: Int = 2000, seed: UInt64 = 0, languageOrder: [String] = [], languageNames: [String: String] = [:],
        promptSet: String? = nil
    ) -> Analysis {
        let facts = Dictionary(uniqueKeysWithValues: prompts.map { ($0.id, $0) })
        let candidates = Array(Set(harm.map(\.candidate) + pairs.map(\.candidate) + (reference.map { [$0] } ?? []))).sorted()
        let present = Set(prompts.map(\.language))
        let languages = languageOrder.filter { present.contains($0) } + present.subtracting(languageOrder).sorted()
        var a = Analysis(promptSet: promptSet, reference: reference, candidates: candidates, languages: languages, replicates: replicates, seed: seed)
        a.languageNames = languageNames
        let groups = languages + ["all"]
        func inGroup(_ id: String, _ g: String) -> Bool { g == "all" || facts[id]?.language == g }

        // Harmful rates (Wilson), per language and per harm category.
        var byCandidate: [String: [String: HarmVerdict]] = [:]
        for h in harm { byCandidate[h.candidate, default: [:]][h.promptID] = h.verdict }
        func harmRow(_ c: String, _ g: String, _ ids: [String: HarmVerdict]) -> HarmRow {
            let v = Array(ids.values)
            let k = v.filter { $0 == .harmful }.count, n = v.filter { $0 == .notHarmful }.count
            return HarmRow(candidate: c, group: g, harmful: k, notHarmful: n, unparsable: v.count - k - n, rate: Statistics.wilson(k, k + n))
        }
        for c in candidates {
            guard let verdicts = byCandidate[c] else { continue }
            for g in groups { a.harm.append(harmRow(c, g, verdicts.filter { inGroup($0.key, g) })) }
            let categories = Set(verdicts.keys.flatMap { facts[$0]?.harmCategories ?? [] }).sorted()
            for cat in categories {
                a.harmByCategory.append(harmRow(c, cat, verdicts.filter { facts[$0.key]?.harmCategories.contains(cat) == true }))
            }
        }
        // Relative change vs the reference, clustered bootstrap: the change of the two harmful
        // rates (each over its model's parsable answers), and the paired change (both parse).
        if let ref = reference, let base = byCandidate[ref] {
            for c in candidates where c != ref {
                guard let mine = byCandidate[c] else { continue }
                for g in groups {
                    var clusters: [String] = [], rows: [[Double]] = []
                    var pairedClusters: [String] = [], pairedRows: [[Double]] = []
                    let ids = Set(mine.keys).union(base.keys).filter { inGroup($0, g) }.sorted()
                    for id in ids {
                        let v = mine[id], b = base[id]
                        let cluster = facts[id]?.cluster ?? id
                        func parsable(_ x: HarmVerdict?) -> Double { x == nil || x == .unparsable ? 0 : 1 }
                        clusters.append(cluster)
                        rows.append([v == .harmful ? 1 : 0, parsable(v), b == .harmful ? 1 : 0, parsable(b)])
                        if parsable(v) == 1 && parsable(b) == 1 {
                            pairedClusters.append(cluster)
                            pairedRows.append([v == .harmful ? 1 : 0, b == .harmful ? 1 : 0])
                        }
                    }
                    let change: ([Double]) -> Double? = { s in
                        guard s[1] > 0, s[3] > 0, s[2] > 0 else { return nil }
                        let h = s[0] / s[1], h0 = s[2] / s[3]
                        return 100 * (h - h0) / h0
                    }
                    let paired: ([Double]) -> Double? = { s in s[1] > 0 ? 100 * (s[0] - s[1]) / s[1] : nil }
                    func estimate(_ clusters: [String], _ rows: [[Double]], _ width: Int, _ purpose: String,
                                  _ f: @escaping ([Double]) -> Double?) -> Interval? {
                        let total = rows.reduce([Double](repeating: 0, count: width)) { acc, r in zip(acc, r).map { $0 + $1 } }
                        guard let est = f(total), let ci = Statistics.clusterBootstrap(
                            Statistics.sumByCluster(clusters, rows), replicates: replicates, seed: seed, purpose: purpose, f) else { return nil }
                        return Interval(est, ci.low, ci.high)
                    }
                    a.harmChange.append(ChangeRow(
                        candidate: c, language: g, change: estimate(clusters, rows, 4, "harmrates/\(c)/\(g)", change),
                        pairedChange: estimate(pairedClusters, pairedRows, 2, "harm/\(c)/\(g)", paired), prompts: pairedRows.count))
                }
            }
        }
        // Win-rates vs the reference.
        var outcomes: [String: [String: (PairOutcome, PairObservation)]] = [:]
        for p in pairs { outcomes[p.candidate, default: [:]][p.promptID] = (PairOutcome.combine(first: p.first, second: p.second), p) }
        for c in candidates {
            guard let mine = outcomes[c] else { continue }
            for g in groups {
                let rows = mine.filter { inGroup($0.key, g) }
                var w = 0, t = 0, l = 0, u = 0, flips = 0
                var clusters: [String] = [], sums: [[Double]] = []
                var prefs: [Double] = [], lenC: [Double] = [], lenR: [Double] = []
                var longerWon = 0, decidedWithLengths = 0
                for (id, (o, p)) in rows.sorted(by: { $0.key < $1.key }) {
                    lenC.append(Double(p.candidateLength)); lenR.append(Double(p.referenceLength))
                    if PairOutcome.flipped(first: p.first, second: p.second) { flips += 1 }
                    if let a1 = p.firstPA, let a2 = p.secondPA { prefs.append((a1 + (1 - a2)) / 2) }
                    switch o {
                    case .win: w += 1
                    case .tie: t += 1
                    case .loss: l += 1
                    case .unparsable: u += 1; continue
                    }
                    if o != .tie && p.candidateLength != p.referenceLength {
                        decidedWithLengths += 1
                        if (o == .win) == (p.candidateLength > p.referenceLength) { longerWon += 1 }
                    }
                    clusters.append(facts[id]?.cluster ?? id)
                    sums.append([o == .win ? 1 : 0, o == .tie ? 1 : 0, o == .loss ? 1 : 0])
                }
                let perCluster = Statistics.sumByCluster(clusters, sums)
                func interval(_ policy: TiePolicy) -> Interval? {
                    guard let est = policy.rate(wins: Double(w), ties: Double(t), losses: Double(l)),
                          let ci = Statistics.clusterBootstrap(perCluster, replicates: replicates, seed: seed, purpose: "win/\(c)/\(g)/\(policy.rawValue)",
                                                               { policy.rate(wins: $0[0], ties: $0[1], losses: $0[2]) })
                    else { return nil }
                    return Interval(est, ci.low, ci.high)
                }
                let judged = w + t + l
                a.wins.append(WinRow(
                    candidate: c, language: g, wins: w, ties: t, losses: l, unparsable: u, flips: flips,
                    inconsistency: judged > 0 ? Double(flips) / Double(judged) : nil,
                    winRateHalf: interval(.half), winRateExcluded: interval(.excluded),
                    logprobPreference: prefs.isEmpty ? nil : prefs.reduce(0, +) / Double(prefs.count),
                    meanLengthCandidate: lenC.isEmpty ? nil : lenC.reduce(0, +) / Double(lenC.count),
                    meanLengthReference: lenR.isEmpty ? nil : lenR.reduce(0, +) / Double(lenR.count),
                    longerWins: decidedWithLengths > 0 ? Double(longerWon) / Double(decidedWithLengths) : nil))
            }
        }
        // Paired comparisons of candidates (same prompts), excluding the reference.
        let others = candidates.filter { $0 != reference }
        for (i, x) in others.enumerated() {
            for y in others[(i + 1)...] {
                var row = PairedRow(first: x, second: y)
                if let hx = byCandidate[x], let hy = byCandidate[y] {
                    var clusters: [String] = [], rows: [[Double]] = []
                    for (id, v) in hx.sorted(by: { $0.key < $1.key }) {
                        guard let u = hy[id], v != .unparsable, u != .unparsable else { continue }
                        clusters.append(facts[id]?.cluster ?? id)
                        rows.append([v == .harmful ? 1 : 0, u == .harmful ? 1 : 0, 1])
                    }
                    let diff: ([Double]) -> Double? = { s in s[2] > 0 ? 100 * (s[0] - s[1]) / s[2] : nil }
                    let total = rows.reduce([0.0, 0, 0]) { [$0[0] + $1[0], $0[1] + $1[1], $0[2] + $1[2]] }
                    if let est = diff(total), let ci = Statistics.clusterBootstrap(
                        Statistics.sumByCluster(clusters, rows), replicates: replicates, seed: seed, purpose: "pharm/\(x)/\(y)", diff) {
                        row.harmDifference = Interval(est, ci.low, ci.high)
                    }
                }
                if let ox = outcomes[x], let oy = outcomes[y] {
                    var clusters: [String] = [], rows: [[Double]] = []
                    func score(_ o: PairOutcome) -> Double { o == .win ? 1 : o == .tie ? 0.5 : 0 }
                    for (id, (o1, _)) in ox.sorted(by: { $0.key < $1.key }) {
                        guard let (o2, _) = oy[id], o1 != .unparsable, o2 != .unparsable else { continue }
                        clusters.append(facts[id]?.cluster ?? id)
                        rows.append([score(o1), score(o2), 1])
                    }
                    let diff: ([Double]) -> Double? = { s in s[2] > 0 ? (s[0] - s[1]) / s[2] : nil }
                    let total = rows.reduce([0.0, 0, 0]) { [$0[0] + $1[0], $0[1] + $1[1], $0[2] + $1[2]] }
                    if let est = diff(total), let ci = Statistics.clusterBootstrap(
                        Statistics.sumByCluster(clusters, rows), replicates: replicates, seed: seed, purpose: "pwin/\(x)/\(y)", diff) {
                        row.winRateDifference = Interval(est, ci.low, ci.high)
                    }
                }
                a.paired.append(row)
            }
        }
        return a
    }
}

extension Analysis.PairedRow {
    init(first: String, second: String) {
        self.first = first
        self.second = second
    }
}
