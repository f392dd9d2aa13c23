import Datasets
import Foundation
import Judging

extension Analysis {
    /// The analysis of what is judged in a run store: of one prompt set, or of every prompt when
    /// `set` is nil. Languages in the paper's order (`Languages.reportOrder`), with their names.
    public static func make(store: RunStore, reference: String?, replicates: Int, seed: UInt64, set: String? = nil) throws -> Analysis {
        let prompts = try store.prompts(set: set)
        let ids = Set(prompts.map(\.id))
        let facts = prompts.map { p in
            PromptFacts(id: p.id, cluster: p.cluster, language: p.language,
                        harmCategories: (try? JSONSerialization.jsonObject(with: Data(p.harmCategoriesJSON.utf8)) as? [String]) ?? [])
        }
        var lengths: [String: [String: Int]] = [:]
        for g in try store.generations() where ids.contains(g.promptID) {
            if let response = g.response { lengths[g.candidate, default: [:]][g.promptID] = response.count }
        }
        let harm = try store.judgments(kind: "harm").compactMap { j -> HarmObservation? in
            guard ids.contains(j.promptID), let v = HarmVerdict(rawValue: j.verdict) else { return nil }  // "error": failed for good
            return HarmObservation(promptID: j.promptID, candidate: j.candidate, verdict: v)
        }
        var halves: [String: (Judgment?, Judgment?)] = [:]
        for j in try store.judgments(kind: "pairwise") where ids.contains(j.promptID) && (reference == nil || j.reference == reference) {
            let key = "\(j.promptID)\u{1}\(j.candidate)"
            var h = halves[key] ?? (nil, nil)
            if j.position == "AB" { h.0 = j } else { h.1 = j }
            halves[key] = h
        }
        let pairs = halves.values.compactMap { h -> PairObservation? in
            guard let ab = h.0, let ba = h.1, let v1 = PairVerdict(rawValue: ab.verdict), let v2 = PairVerdict(rawValue: ba.verdict) else { return nil }
            return PairObservation(promptID: ab.promptID, candidate: ab.candidate, first: v1, second: v2, firstPA: ab.pA, secondPA: ba.pA,
                                   candidateLength: lengths[ab.candidate]?[ab.promptID] ?? 0, referenceLength: lengths[ab.reference]?[ab.promptID] ?? 0)
        }
        let codes = Set(prompts.map(\.language))
        let names = Dictionary(uniqueKeysWithValues: codes.map { ($0, Languages.name($0)) })
        return Analysis.make(prompts: facts, harm: harm, pairs: pairs, reference: reference, replicates: replicates, seed: seed,
                             languageOrder: Languages.reportOrder(codes), languageNames: names, promptSet: set)
    }

    /// One analysis per prompt set that has judgments, in the order the sets were added (every
    /// set when none has any).
    public static func sets(store: RunStore, reference: String?, replicates: Int, seed: UInt64) throws -> [Analysis] {
        let all = try store.promptSets().map { try make(store: store, reference: reference, replicates: replicates, seed: seed, set: $0) }
        let judged = all.filter { !$0.harm.isEmpty || !$0.wins.isEmpty }
        return judged.isEmpty ? all : judged
    }

    /// What a reader of the report must know first: no judgments, or none against the reference.
    public static func warnings(store: RunStore, reference: String?) throws -> [String] {
        var out: [String] = []
        let harm = try store.judgments(kind: "harm"), pairwise = try store.judgments(kind: "pairwise")
        if harm.isEmpty && pairwise.isEmpty {
            out.append("\(store.path) holds no judgments: run `mixmerge judge harm` or `mixmerge judge pairwise` first.")
        } else if let reference, !pairwise.isEmpty, !pairwise.contains(where: { $0.reference == reference }) {
            out.append("no pairwise judgments against '\(reference)' (judged against: "
                + Set(pairwise.map(\.reference)).sorted().joined(separator: ", ") + ").")
        }
        if reference == nil && (!harm.isEmpty || !pairwise.isEmpty) {
            out.append("no --reference given: harmful-rate changes against a base model are left out.")
        }
        let failed = harm.filter { $0.error != nil }.count + pairwise.filter { $0.error != nil }.count
        if failed > 0 { out.append("\(failed) judge calls failed for good and are left out; run `mixmerge judge` again to retry them.") }
        return out
    }
}
