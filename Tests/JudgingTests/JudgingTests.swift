import Foundation
import Judging
import Testing

let statsFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/stats")

@Suite struct StatisticsTests {
    /// Wilson intervals equal statsmodels' `proportion_confint(method="wilson")`.
    @Test func wilsonMatchesStatsmodels() throws {
        let data = try Data(contentsOf: statsFixtures.appendingPathComponent("wilson.json"))
        let cases = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["cases"] as? [[String: Any]])
        #expect(cases.count == 7)
        for c in cases {
            let k = c["k"] as! Int, n = c["n"] as! Int
            let w = try #require(Statistics.wilson(k, n))
            #expect(abs(w.low - (c["low"] as! Double)) < 1e-12, "\(k)/\(n)")
            #expect(abs(w.high - (c["high"] as! Double)) < 1e-12, "\(k)/\(n)")
        }
        #expect(Statistics.wilson(0, 0) == nil)
    }

    /// With one item per cluster, the bootstrap interval of a proportion approaches the normal
    /// approximation p ± 1.96·sqrt(p(1−p)/n).
    @Test func bootstrapOfAProportionMatchesTheNormalApproximation() throws {
        let n = 4000, k = 1200  // p = 0.3
        let rows = (0..<n).map { [$0 < k ? 1.0 : 0.0, 1.0] }
        let ci = try #require(Statistics.clusterBootstrap(rows, replicates: 4000, seed: 1) { $0[0] / $0[1] })
        let se = (0.3 * 0.7 / Double(n)).squareRoot()
        #expect(abs(ci.low - (0.3 - Statistics.z95 * se)) < 0.15 * Statistics.z95 * se)
        #expect(abs(ci.high - (0.3 + Statistics.z95 * se)) < 0.15 * Statistics.z95 * se)
    }

    /// Translations are not independent: when every source prompt appears in 4 languages with the
    /// same outcome, the clustered interval is as wide as for n/4 independent prompts — twice the
    /// width of the (wrong) interval that treats the 4n rows as independent.
    @Test func clusteringWidensTheIntervalBySqrtOfTheClusterSize() throws {
        let clusters = 1000
        var ids: [String] = [], rows: [[Double]] = []
        for c in 0..<clusters {
            for _ in 0..<4 { ids.append("s\(c)"); rows.append([c % 2 == 0 ? 1 : 0, 1]) }
        }
        let clustered = try #require(Statistics.clusterBootstrap(Statistics.sumByCluster(ids, rows), replicates: 3000, seed: 2) { $0[0] / $0[1] })
        let naive = try #require(Statistics.clusterBootstrap(rows, replicates: 3000, seed: 2) { $0[0] / $0[1] })
        let ratio = (clustered.high - clustered.low) / (naive.high - naive.low)
        #expect(abs(ratio - 2) < 0.2, "\(ratio)")
        let expected = 2 * Statistics.z95 * (0.25 / Double(clusters)).squareRoot()
        #expect(abs((clustered.high - clustered.low) - expected) < 0.12 * expected)
    }

    @Test func bootstrapIsRepeatableForASeed() {
        let rows = (0..<300).map { [Double(($0 * 7919) % 101), 1] }
        let a = Statistics.clusterBootstrap(rows, seed: 5) { $0[0] / $0[1] }
        let b = Statistics.clusterBootstrap(rows, seed: 5) { $0[0] / $0[1] }
        let c = Statistics.clusterBootstrap(rows, seed: 6) { $0[0] / $0[1] }
        #expect(a?.low == b?.low && a?.high == b?.high)
        #expect(a?.low != c?.low || a?.high != c?.high)
    }

    @Test func quantileIsNumPyLinear() {
        // numpy.quantile([1, 2, 3, 4], 0.025) = 1.075, 0.975 → 3.925
        #expect(abs(Statistics.quantile([1, 2, 3, 4], 0.025) - 1.075) < 1e-12)
        #expect(abs(Statistics.quantile([1, 2, 3, 4], 0.975) - 3.925) < 1e-12)
    }

    @Test func tiePolicies() {
        #expect(TiePolicy.half.rate(wins: 6, ties: 2, losses: 2) == 0.7)
        #expect(TiePolicy.excluded.rate(wins: 6, ties: 2, losses: 2) == 0.75)
        #expect(TiePolicy.excluded.rate(wins: 0, ties: 3, losses: 0) == nil)
    }
}

@Suite struct VerdictTests {
    @Test func harmVerdicts() {
        #expect(HarmVerdict.parse("It gives instructions.\nVERDICT: HARMFUL") == .harmful)
        #expect(HarmVerdict.parse("Refusal.\n**Verdict:** not_harmful\n") == .notHarmful)
        #expect(HarmVerdict.parse("verdict: NOT HARMFUL.") == .notHarmful)
        #expect(HarmVerdict.parse("HARMFUL") == .harmful)
        #expect(HarmVerdict.parse("I cannot decide whether this is harmful or not.") == .unparsable)
        #expect(HarmVerdict.parse("VERDICT: maybe") == .unparsable)
        #expect(HarmVerdict.parse("") == .unparsable)
    }

    @Test func pairVerdicts() {
        #expect(PairVerdict.parse("Reasoning.\nWINNER: A") == .a)
        #expect(PairVerdict.parse("**Winner: b**") == .b)
        #expect(PairVerdict.parse("WINNER: TIE") == .tie)
        #expect(PairVerdict.parse("[[A]]") == .a)
        #expect(PairVerdict.parse("Both are fine") == .unparsable)
    }

    /// Both orders must agree; a flip (win in one order, loss in the other) is a tie.
    @Test func bothOrdersTieLogic() {
        // first: candidate shown as A; second: candidate shown as B.
        #expect(PairOutcome.combine(first: .a, second: .b) == .win)
        #expect(PairOutcome.combine(first: .b, second: .a) == .loss)
        #expect(PairOutcome.combine(first: .a, second: .a) == .tie)  // position bias: always "A"
        #expect(PairOutcome.flipped(first: .a, second: .a))
        #expect(PairOutcome.combine(first: .b, second: .b) == .tie)
        #expect(PairOutcome.combine(first: .a, second: .tie) == .tie)
        #expect(PairOutcome.combine(first: .tie, second: .tie) == .tie)
        #expect(!PairOutcome.flipped(first: .a, second: .tie))
        #expect(PairOutcome.combine(first: .unparsable, second: .b) == .unparsable)
    }

    @Test func templatesRenderEveryPlaceholder() {
        let (s, u) = JudgeTemplate.harm.render(["language": "Hindi", "prompt": "P?", "response": "R."])
        #expect(s.contains("Hindi") && u.contains("P?") && u.contains("R.") && !u.contains("{"))
        let (_, p) = JudgeTemplate.pairwise.render(["language": "French", "prompt": "Q", "response_a": "one", "response_b": "two"])
        #expect(p.contains("one") && p.contains("two") && !p.contains("{response"))
    }
}

@Suite struct AnalysisTests {
    func prompts(_ n: Int, languages: [String]) -> [PromptFacts] {
        (0..<n).flatMap { i in languages.map { PromptFacts(id: "\(i)-\($0)", cluster: "s\(i)", language: $0, harmCategories: i % 2 == 0 ? ["Hate Speech"] : ["Profanity"]) } }
    }

    @Test func harmChangeAndWinRates() throws {
        let ps = prompts(40, languages: ["en", "hi"])
        var harm: [HarmObservation] = []
        var pairs: [PairObservation] = []
        for p in ps {
            let i = Int(p.id.split(separator: "-")[0])!
            harm.append(HarmObservation(promptID: p.id, candidate: "base", verdict: i < 20 ? .harmful : .notHarmful))
            harm.append(HarmObservation(promptID: p.id, candidate: "merged", verdict: i < 10 ? .harmful : i == 39 ? .unparsable : .notHarmful))
            // merged wins 20, loses 10, flips 10 (a tie) per language
            let (f, s): (PairVerdict, PairVerdict) = i < 20 ? (.a, .b) : i < 30 ? (.b, .a) : (.a, .a)
            pairs.append(PairObservation(promptID: p.id, candidate: "merged", first: f, second: s, firstPA: 0.8, secondPA: 0.4,
                                         candidateLength: i < 20 ? 100 : 50, referenceLength: 70))
        }
        let a = Analysis.make(prompts: ps, harm: harm, pairs: pairs, reference: "base", replicates: 500, seed: 1)
        let base = try #require(a.harm.first { $0.candidate == "base" && $0.group == "all" })
        #expect(base.harmful == 40 && base.notHarmful == 40 && base.rate?.estimate == 0.5)
        let merged = try #require(a.harm.first { $0.candidate == "merged" && $0.group == "en" })
        #expect(merged.harmful == 10 && merged.unparsable == 1)
        // The paper's figure: the relative change of the two rates of the harm table, each over
        // its model's parsable answers (merged: 20 of 78; base: 40 of 80).
        let mergedAll = try #require(a.harm.first { $0.candidate == "merged" && $0.group == "all" }?.rate?.estimate)
        let row = try #require(a.harmChange.first { $0.candidate == "merged" && $0.language == "all" })
        let change = try #require(row.change)
        #expect(abs(change.estimate - 100 * (mergedAll - 0.5) / 0.5) < 1e-12)
        #expect(abs(change.estimate - 100 * (20.0 / 78 - 0.5) / 0.5) < 1e-12)
        #expect(change.low < change.estimate && change.high > change.estimate)
        // The paired figure, over the 78 prompts where both verdicts parse: 20 harmful vs 40.
        let paired = try #require(row.pairedChange)
        #expect(paired.estimate == -50 && row.prompts == 78)
        let w = try #require(a.wins.first { $0.candidate == "merged" && $0.language == "all" })
        #expect(w.wins == 40 && w.losses == 20 && w.ties == 20 && w.flips == 20)
        #expect(w.winRateHalf?.estimate == 0.625 && abs((w.winRateExcluded?.estimate ?? 0) - 40.0 / 60) < 1e-12)
        #expect(w.inconsistency == 0.25)
        #expect(abs((w.logprobPreference ?? 0) - 0.7) < 1e-12)
        #expect(w.longerWins == 1)  // every decided pair was won by the longer response
        #expect(a.harmByCategory.contains { $0.candidate == "base" && $0.group == "Hate Speech" })
    }

    @Test func paretoFrontAndReports() throws {
        let ps = prompts(30, languages: ["en"])
        var harm: [HarmObservation] = [], pairs: [PairObservation] = []
        for p in ps {
            let i = Int(p.id.split(separator: "-")[0])!
            harm.append(HarmObservation(promptID: p.id, candidate: "base", verdict: i < 20 ? .harmful : .notHarmful))
            harm.append(HarmObservation(promptID: p.id, candidate: "good", verdict: i < 5 ? .harmful : .notHarmful))
            harm.append(HarmObservation(promptID: p.id, candidate: "bad", verdict: i < 15 ? .harmful : .notHarmful))
            pairs.append(PairObservation(promptID: p.id, candidate: "good", first: i < 20 ? .a : .b, second: i < 20 ? .b : .a, firstPA: nil, secondPA: nil, candidateLength: 1, referenceLength: 1))
            pairs.append(PairObservation(promptID: p.id, candidate: "bad", first: i < 10 ? .a : .b, second: i < 10 ? .b : .a, firstPA: nil, secondPA: nil, candidateLength: 1, referenceLength: 1))
        }
        let a = Analysis.make(prompts: ps, harm: harm, pairs: pairs, reference: "base", replicates: 300)
        let points = Report.points(a)
        #expect(points.first { $0.candidate == "good" }?.pareto == true)
        #expect(points.first { $0.candidate == "bad" }?.pareto == false)  // dominated: more harm, fewer wins
        let svg = try #require(Report.svg(a))
        #expect(svg.contains("data-candidate=\"good\"") && svg.contains("data-candidate=\"bad\"") && svg.contains("★"))
        let html = Report.html(a)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg") && html.contains("<table>"))
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"))  // self-contained
        let csv = Report.csv(a)
        #expect(csv.contains("\nharm_change,good,all,percent_change,-75.0,") == false)
        #expect(csv.contains(",harm_change,good,all,percent_change,-75.0,"))
        let json = try Report.json(a)
        #expect(json.contains("\"winRateHalf\""))
        let md = Report.markdown(a)
        #expect(md.contains("| good | -75.0 | "))
    }
}

/// The report fixes of issue 20 §4: prompt sets apart, languages in the paper's order under their
/// names, one number per cell, no empty tables, no degenerate plot.
@Suite struct ReportLayoutTests {
    let order = ["en", "hi", "fr", "es", "ar", "ru"]
    let names = ["en": "English", "hi": "Hindi", "ru": "Russian"]

    func facts(_ set: String, _ n: Int) -> [PromptFacts] {
        (0..<n).flatMap { i in ["ru", "en", "hi"].map { PromptFacts(id: "\(set):\(i)-\($0)", cluster: "\(set):\(i)", language: $0, harmCategories: ["Hate Speech"]) } }
    }

    /// Red-teaming judged for harm, Dolly judged pairwise, as in the README: two sections, and
    /// the trade-off takes harm from one and win-rates from the other.
    func twoSets() -> [Analysis] {
        let red = facts("redteaming", 20), dolly = facts("dolly", 20)
        var harm: [HarmObservation] = []
        for (k, p) in red.enumerated() {
            harm.append(HarmObservation(promptID: p.id, candidate: "base", verdict: k % 2 == 0 ? .harmful : .notHarmful))
            harm.append(HarmObservation(promptID: p.id, candidate: "merged", verdict: k % 4 == 0 ? .harmful : k == 5 ? .unparsable : .notHarmful))
        }
        let pairs = dolly.enumerated().map { k, p in
            PairObservation(promptID: p.id, candidate: "merged", first: k % 3 == 0 ? .b : .a, second: k % 3 == 0 ? .a : .b,
                            firstPA: nil, secondPA: nil, candidateLength: 10, referenceLength: 8)
        }
        return [
            Analysis.make(prompts: red, harm: harm, pairs: [], reference: "base", replicates: 200, languageOrder: order,
                          languageNames: names, promptSet: "redteaming"),
            Analysis.make(prompts: dolly, harm: [], pairs: pairs, reference: "base", replicates: 200, languageOrder: order,
                          languageNames: names, promptSet: "dolly"),
        ]
    }

    @Test func setsHaveTheirOwnSections() throws {
        let sets = twoSets()
        let md = Report.markdown(sets)
        let red = try #require(md.range(of: "## Prompt set “redteaming”"))
        let dolly = try #require(md.range(of: "## Prompt set “dolly”"))
        let redSection = md[red.upperBound..<dolly.lowerBound], dollySection = md[dolly.upperBound...]
        #expect(redSection.contains("### Harmful generations") && !redSection.contains("### Win-rate"))
        #expect(dollySection.contains("### Win-rate vs base") && !dollySection.contains("Harmful generations"))
        #expect(md.contains("Harm on prompt set “redteaming”, win-rates on prompt set “dolly”."))
        let svg = try #require(Report.svg(sets))
        #expect(svg.contains("data-candidate=\"merged\"") && svg.contains("vs base on redteaming") && svg.contains("vs reference on dolly"))
        let csv = Report.csv(sets)
        #expect(csv.contains("\nredteaming,harm,merged,all,harmful_rate,") && csv.contains("\ndolly,win,merged,all,win_rate_half,"))
        #expect(!csv.contains("\ndolly,harm,") && !csv.contains("\nredteaming,win,"))
    }

    @Test func languagesInThePapersOrderWithNames() throws {
        let md = Report.markdown(twoSets())
        let rows = md.split(separator: "\n").filter { $0.hasPrefix("| ") && $0.contains("| base |") }.map { String($0.split(separator: "|")[0]).trimmingCharacters(in: .whitespaces) }
        #expect(Array(rows.prefix(4)) == ["English", "Hindi", "Russian", "All languages"])
        #expect(!md.contains("| en |") && !md.contains("| ru |"))
    }

    /// Each cell one number: the rate, its interval, n and unparsable counts in their own columns.
    @Test func cellsHoldOneNumber() throws {
        let md = Report.markdown(twoSets())
        let header = "| language | candidate | harmful % | 95 % interval | n | unparsable | change vs base % | 95 % interval | change, both parsed % | 95 % interval | both parsed |"
        #expect(md.contains(header))
        let row = try #require(md.split(separator: "\n").first { $0.hasPrefix("| All languages | merged |") && $0.split(separator: "|").count == 11 })
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells[4] == "59" && cells[5] == "1", "\(cells)")  // 60 prompts, one unparsable
        for cell in cells.dropFirst(2) {
            #expect(!cell.contains("[") && !cell.contains("n=") && !cell.contains("("), "\(cell)")
        }
        // The change shown is the relative change of the two rates in the same table.
        let base = try #require(md.split(separator: "\n").first { $0.hasPrefix("| All languages | base |") })
        let h0 = try #require(Double(base.split(separator: "|")[2].trimmingCharacters(in: .whitespaces)))
        let h = try #require(Double(cells[2])), change = try #require(Double(cells[6]))
        #expect(abs(change - 100 * (h - h0) / h0) < 0.2, "\(h) \(h0) \(change)")
    }

    @Test func pairwiseOnlyReportHasNoHarmTableAndNoPlot() throws {
        let dolly = twoSets()[1]
        let md = Report.markdown([dolly])
        #expect(!md.contains("Harmful") && !md.contains("harmful %") && !md.contains("harmful-rate change"))
        #expect(md.contains("### Win-rate vs base") && md.contains("| merged | "))
        #expect(Report.svg([dolly]) == nil && !md.contains("![trade-off]"))
        let html = Report.html([dolly])
        #expect(!html.contains("<svg") && !html.contains("Harmful"))
    }

    @Test func warningsComeFirst() {
        let md = Report.markdown([], warnings: ["run.sqlite holds no judgments"])
        #expect(md.contains("> **Warning:** run.sqlite holds no judgments"))
        #expect(Report.html([], warnings: ["run.sqlite holds no judgments"]).contains("<p class=\"warning\">Warning: run.sqlite holds no judgments</p>"))
    }

    @Test(arguments: [(-0.08, 0.08), (49.92, 50.08), (-75.3, 12.1), (0.0, 100.0), (-1.0e-9, 1.0e-9), (3.0, 3.2)])
    func ticksAreRoundAndDistinct(_ lo: Double, _ hi: Double) {
        let t = Report.ticks(lo, hi)
        #expect(t.values.count >= 3 && t.values.count <= 11, "\(t.labels)")
        #expect(Set(t.labels).count == t.labels.count, "\(t.labels)")
        #expect(t.values.allSatisfy { $0 >= lo - 1e-12 && $0 <= hi + 1e-12 })
        #expect(!t.labels.contains { $0.hasPrefix("-0") && Double($0) == 0 })
    }

    /// Every candidate at the same point (no change, half the wins): still distinct tick labels.
    @Test func degeneratePlotHasDistinctTicks() throws {
        let ps = facts("s", 10)
        var harm: [HarmObservation] = [], pairs: [PairObservation] = []
        for p in ps {
            for c in ["base", "x", "y"] { harm.append(HarmObservation(promptID: p.id, candidate: c, verdict: .harmful)) }
            for c in ["x", "y"] {
                pairs.append(PairObservation(promptID: p.id, candidate: c, first: .tie, second: .tie, firstPA: nil, secondPA: nil,
                                             candidateLength: 1, referenceLength: 1))
            }
        }
        let a = Analysis.make(prompts: ps, harm: harm, pairs: pairs, reference: "base", replicates: 100)
        let svg = try #require(Report.svg(a))
        for axis in ["x", "y"] {
            let labels = svg.components(separatedBy: "class=\"tick \(axis)\"").dropFirst().compactMap { part in
                part.split(separator: ">").dropFirst().first?.split(separator: "<").first.map(String.init)
            }
            #expect(labels.count >= 3 && Set(labels).count == labels.count, "\(axis): \(labels)")
        }
    }
}
