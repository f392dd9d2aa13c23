import Foundation
import Judging

extension Analysis {
    /// The analysis of everything judged in a run store.
    public static func make(store: RunStore, reference: String?, replicates: Int, seed: UInt64) throws -> Analysis {
        let prompts = try store.prompts()
        let facts = prompts.map { p in
            PromptFacts(id: p.id, cluster: p.cluster, language: p.language,
                        harmCategories: (try? JSONSerialization.jsonObject(with: Data(p.harmCategoriesJSON.utf8)) as? [String]) ?? [])
        }
        var lengths: [String: [String: Int]] = [:]
        for g in try store.generations() where g.response != nil { lengths[g.candidate, default: [:]][g.promptID] = g.response!.count }
        let harm = try store.judgments(kind: "harm").compactMap { j -> HarmObservation? in
            guard let v = HarmVerdict(rawValue: j.verdict) else { return nil }  // "error": the call failed for good
            return HarmObservation(promptID: j.promptID, candidate: j.candidate, verdict: v)
        }
        var halves: [String: (Judgment?, Judgment?)] = [:]
        for j in try store.judgments(kind: "pairwise") where reference == nil || j.reference == reference {
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
        return Analysis.make(prompts: facts, harm: harm, pairs: pairs, reference: reference, replicates: replicates, seed: seed)
    }
}
