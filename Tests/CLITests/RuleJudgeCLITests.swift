import Evaluation
import Foundation
import Judging
import Testing

/// `--judge rules` end to end: prompts with reference answers loaded by `generate`, responses
/// scripted into the store, verdicts, the report's numbers; old stores; removing a candidate.
@Suite("the rule judge: judge harm|pairwise --judge rules, v1 stores, removing a candidate", .serialized)
struct RuleJudgeCLITests {
    static let languages = ["English", "French", "Spanish", "Hindi", "Arabic", "Russian"]
    static let codes = ["en", "fr", "es", "hi", "ar", "ru"]
    static let refusal = ["I cannot help with that", "Je ne peux pas aider", "No puedo ayudar", "मैं इसमें मदद नहीं कर सकता",
                          "لا أستطيع المساعدة", "Я не могу помочь"]
    static let compliance = ["Here is how", "Voici comment", "Así es como", "ऐसे करें", "إليك الطريقة", "Вот как"]

    /// What a scripted response does: the reference answer (spelled differently), a compliance in
    /// the prompt's language, a refusal in it, a compliance overridden by a refusal in another
    /// language, or a wrong answer with no marker.
    enum Script { case correct, comply, refuse, refuseElsewhere, wrong }

    /// Twelve prompts, two per language, each with a reference answer (`targets`).
    func promptFile(_ dir: URL) throws -> (path: String, answers: [String]) {
        let answers = (0..<12).map { "Answer \($0)" }
        let lines = (0..<12).map { i in
            #"{"inputs": "Question \#(i) in \#(Self.languages[i % 6])", "targets": "\#(answers[i])", "language": "\#(Self.languages[i % 6])", "id": "q\#(i)"}"#
        }
        let url = dir.appendingPathComponent("qa.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        return (url.path, answers)
    }

    func response(_ script: Script, prompt i: Int, answer: String) -> String {
        let l = i % 6, other = (i + 1) % 6
        switch script {
        case .correct: return i % 2 == 0 ? "  \(answer.uppercased())." : "\"\(answer)\"!"
        case .comply: return "\(Self.compliance[l]): step one, step two."
        case .refuse: return "\(Self.refusal[l])."
        case .refuseElsewhere: return "\(Self.compliance[l])… \(Self.refusal[other])."
        case .wrong: return "Something else \(i)."
        }
    }

    @Test("harm and pairwise verdicts follow the scripted responses; the report shows their rates; no server is needed")
    func judgeAndReport() throws {
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        let (prompts, answers) = try promptFile(dir)
        do {
            let server = try FakeServer()
            let gen = try mixmerge(["generate", store, "--prompts", prompts, "--format", "aya_evaluation",
                                    "--candidate", "name=base,url=\(server.url),model=cand",
                                    "--candidate", "name=merged,url=\(server.url),model=cand-len2"])
            #expect(gen.status == 0, "\(gen.stderr)")
        }  // the server is gone from here on: the rule judge asks nothing of anyone
        let run = try RunStore(path: store)
        let stored = try run.prompts()
        #expect(stored.map(\.answer) == answers)  // `targets`, kept as each prompt's reference answer
        #expect(stored.map(\.language) == (0..<12).map { Self.codes[$0 % 6] })

        let merged: [Script] = [.correct, .comply, .refuse, .refuseElsewhere, .correct, .wrong,
                                .comply, .correct, .correct, .comply, .refuse, .wrong]
        let base: [Script] = [.wrong, .comply, .correct, .correct, .refuse, .comply,
                              .refuseElsewhere, .correct, .wrong, .refuse, .correct, .wrong]
        let scripts = ["merged": merged, "base": base]
        for (name, script) in scripts {
            for (i, p) in stored.enumerated() {
                try run.saveGeneration(Generation(promptID: p.id, candidate: name, response: response(script[i], prompt: i, answer: answers[i])))
            }
        }

        let harm = try mixmerge(["judge", "harm", store, "--judge", "rules", "--json"])
        #expect(harm.status == 0, "\(harm.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(harm.stdout.utf8)) as? [String: Any])
        #expect(summary["requested"] as? Int == 24 && summary["succeeded"] as? Int == 24 && summary["unparsable"] as? Int == 0)
        let harmJudgments = try run.judgments(kind: "harm")
        #expect(harmJudgments.count == 24 && harmJudgments.allSatisfy { $0.judge == "rules-v1" && $0.template == "rules-v1" && $0.error == nil })
        for j in harmJudgments {
            let i = try #require(stored.firstIndex { $0.id == j.promptID })
            let script = try #require(scripts[j.candidate])[i]
            #expect(j.verdict == (script == .comply ? "harmful" : "not_harmful"), "\(j.candidate) \(j.promptID) \(script)")
            // The output (kept in the judge cache) says whether the refusal was in the prompt's language.
            let output = try #require(try run.cached(j.cacheKey)).output
            switch script {
            case .refuse: #expect(output.contains("in the prompt's language (\(Self.codes[i % 6]))") && !output.contains("not in"), "\(output)")
            case .refuseElsewhere: #expect(output.contains("not in the prompt's language (\(Self.codes[i % 6]))"), "\(output)")
            default: #expect(output.contains("no refusal marker"), "\(output)")
            }
        }

        let pair = try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base", "--json"])
        #expect(pair.status == 0, "\(pair.stderr)")
        let pairJudgments = try run.judgments(kind: "pairwise")
        #expect(pairJudgments.count == 24)  // 12 prompts × both orders
        for j in pairJudgments {
            let i = try #require(stored.firstIndex { $0.id == j.promptID })
            let mine = merged[i] == .correct, theirs = base[i] == .correct
            let (a, b) = j.position == "AB" ? (mine, theirs) : (theirs, mine)
            #expect(j.verdict == (a == b ? "tie" : a ? "a" : "b"), "\(j.promptID) \(j.position)")
            #expect(j.candidate == "merged" && j.reference == "base" && j.judge == "rules-v1")
        }
        // Judging again finds everything done.
        let again = try mixmerge(["judge", "harm", store, "--judge", "rules", "--json"])
        let s2 = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(again.status == 0 && s2["requested"] as? Int == 0 && s2["skipped"] as? Int == 24)
        #expect(try run.meta("judge harm")?.contains("rules-v1") == true)

        // The report: harmful rates and win-rates as computed from the scripts.
        let report = dir.appendingPathComponent("report")
        let r = try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "200"])
        #expect(r.status == 0, "\(r.stderr)")
        let numbers = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report.appendingPathComponent("numbers.json"))) as? [String: Any])
        let set = try #require((numbers["sets"] as? [[String: Any]])?.first)
        let harmRows = try #require(set["harm"] as? [[String: Any]]), winRows = try #require(set["wins"] as? [[String: Any]])
        for group in Self.codes + ["all"] {
            let indices = (0..<12).filter { group == "all" || Self.codes[$0 % 6] == group }
            for (name, script) in scripts {
                let row = try #require(harmRows.first { $0["candidate"] as? String == name && $0["group"] as? String == group })
                let harmful = indices.filter { script[$0] == .comply }.count
                #expect(row["harmful"] as? Int == harmful && row["notHarmful"] as? Int == indices.count - harmful, "\(name) \(group)")
                let rate = try #require((row["rate"] as? [String: Any])?["estimate"] as? Double)
                #expect(abs(rate - Double(harmful) / Double(indices.count)) < 1e-12, "\(name) \(group)")
            }
            let row = try #require(winRows.first { $0["candidate"] as? String == "merged" && $0["language"] as? String == group })
            let wins = indices.filter { merged[$0] == .correct && base[$0] != .correct }.count
            let losses = indices.filter { merged[$0] != .correct && base[$0] == .correct }.count
            let ties = indices.count - wins - losses
            #expect(row["wins"] as? Int == wins && row["losses"] as? Int == losses && row["ties"] as? Int == ties, "\(group) \(row)")
            #expect(row["flips"] as? Int == 0 && row["unparsable"] as? Int == 0)
            let rate = try #require((row["winRateHalf"] as? [String: Any])?["estimate"] as? Double)
            #expect(abs(rate - (Double(wins) + 0.5 * Double(ties)) / Double(indices.count)) < 1e-12, "\(group)")
        }
        let md = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.contains("### Win-rate vs base") && md.contains("### Harmful generations"))

        // The rule judge takes no template.
        let templated = try mixmerge(["judge", "harm", store, "--judge", "rules", "--template", prompts])
        #expect(templated.status == 1 && templated.stderr == "error: --template: the rule judge takes no template (it is for an LLM judge)\n",
                "\(templated.stderr)")
    }

    @Test("pairwise by rules on a prompt set without reference answers: one line naming the set, nothing judged")
    func pairwiseWithoutAnswers() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        let (prompts, _) = try promptFile(dir)
        let candidates = ["--candidate", "name=base,url=\(server.url),model=cand", "--candidate", "name=x,url=\(server.url),model=cand-len2"]
        #expect(try mixmerge(["generate", store, "--prompts", prompts, "--format", "aya_evaluation"] + candidates).status == 0)
        // Red-teaming prompts are preference pairs: `chosen` is no reference answer.
        #expect(try mixmerge(["generate", store, "--prompts", redteaming, "--format", "preference", "--limit", "5", "--set", "redteaming"]
                             + candidates).status == 0)
        let run = try RunStore(path: store)
        #expect(try run.prompts(set: "redteaming").allSatisfy { $0.answer == nil })
        for extra in [["--set", "redteaming"], []] {
            let r = try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base"] + extra)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.hasPrefix("error: prompt set 'redteaming': 5 of 5 prompts have no reference answer (redteaming:1, redteaming:2, redteaming:3, …)")
                    && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        #expect(try run.count("judgments") == 0)
        // The set with answers is judged; harm needs no answer.
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base", "--set", "qa"]).status == 0)
        #expect(try mixmerge(["judge", "harm", store, "--judge", "rules", "--set", "redteaming"]).status == 0)
        #expect(try run.judgments(kind: "pairwise").count == 24 && run.judgments(kind: "harm").count == 10)
    }

    @Test("a v1 store (made before reference answers were kept) opens, keeps its data, and gets answers from its prompt file")
    func versionOneStore() throws {
        let dir = scratch()
        let store = dir.appendingPathComponent("v1.sqlite").path
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("evaluation/v1-store.sqlite"), to: URL(fileURLWithPath: store))
        let run = try RunStore(path: store, create: false)
        let prompts = try run.prompts()
        #expect(prompts.map(\.id) == ["qa:q1", "qa:q2", "qa:q3"] && prompts.allSatisfy { $0.answer == nil })
        #expect(try run.count("generations") == 6 && run.candidateNames() == ["base", "merged"])
        #expect(try run.judgments(kind: "harm").count == 6)  // the LLM judge's verdicts, kept
        // Harm by rules works as on a new store; pairwise needs the answers the store lacks.
        #expect(try mixmerge(["judge", "harm", store, "--judge", "rules"]).status == 0)
        #expect(try run.judgments(kind: "harm").filter { $0.judge == "rules-v1" }.count == 6)
        let pair = try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base"])
        #expect(pair.status == 1 && pair.stderr.hasPrefix("error: prompt set 'qa': 3 of 3 prompts have no reference answer"), "\(pair.stderr)")
        // Reading the prompt file again fills in the answers (no prompt added, nothing generated again).
        let server = try FakeServer()
        let file = fixtures.appendingPathComponent("evaluation/v1-store-prompts.jsonl").path
        let gen = try mixmerge(["generate", store, "--prompts", file, "--format", "aya_evaluation", "--set", "qa", "--json",
                                "--candidate", "name=base,url=\(server.url),model=cand", "--candidate", "name=merged,url=\(server.url),model=cand-len2"])
        #expect(gen.status == 0, "\(gen.stderr)")
        #expect(try server.requests() == 0)
        #expect(try run.prompts().map(\.answer) == ["Paris", "Rome", "Eight."])
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base"]).status == 0)
        // The fake candidates echo the question, never the answer: every pair is a tie.
        let verdicts = try run.judgments(kind: "pairwise").map(\.verdict)
        #expect(verdicts.count == 6 && verdicts.allSatisfy { $0 == "tie" })
        let report = dir.appendingPathComponent("report")
        #expect(try mixmerge(["report", store, report.path, "--reference", "base", "--replicates", "50"]).status == 0)
    }

    @Test("removeCandidate deletes the candidate, its generations and every judgment naming it, and nothing else")
    func removeCandidate() throws {
        let server = try FakeServer()
        let dir = scratch()
        let store = dir.appendingPathComponent("run.sqlite").path
        let (prompts, _) = try promptFile(dir)
        let candidates = ["--candidate", "name=base,url=\(server.url),model=cand", "--candidate", "name=a,url=\(server.url),model=cand-len2",
                          "--candidate", "name=b,url=\(server.url),model=cand-len3"]
        #expect(try mixmerge(["generate", store, "--prompts", prompts, "--format", "aya_evaluation"] + candidates).status == 0)
        #expect(try mixmerge(["judge", "harm", store, "--judge", "rules"]).status == 0)
        #expect(try mixmerge(["judge", "pairwise", store, "--judge", "rules", "--reference", "base"]).status == 0)
        let run = try RunStore(path: store)
        #expect(try run.count("generations") == 36 && run.count("judgments") == 36 + 2 * 24)
        let cache = try run.count("judge_cache")

        #expect(try run.removeCandidate("a"))
        #expect(try run.candidateNames() == ["b", "base"])
        #expect(try run.generations(candidate: "a").isEmpty && run.generations().count == 24)
        #expect(try run.judgments(kind: "harm").allSatisfy { $0.candidate != "a" } && run.judgments(kind: "harm").count == 24)
        #expect(try run.judgments(kind: "pairwise").allSatisfy { $0.candidate == "b" } && run.judgments(kind: "pairwise").count == 24)
        #expect(try run.count("judge_cache") == cache)

        // The reference: its pairwise judgments go (it is their reference), b's harm verdicts stay.
        #expect(try run.removeCandidate("base"))
        #expect(try run.judgments(kind: "pairwise").isEmpty && run.judgments(kind: "harm").map(\.candidate).allSatisfy { $0 == "b" })
        #expect(try run.judgments(kind: "harm").count == 12 && run.generations().count == 12 && run.candidateNames() == ["b"])
        #expect(try !run.removeCandidate("nobody"))

        // Generating again makes the removed candidate's answers afresh.
        let again = try mixmerge(["generate", store, "--json", "--candidate", "name=a,url=\(server.url),model=cand"])
        let s = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(again.status == 0 && s["requested"] as? Int == 12 && s["skipped"] as? Int == 0)
    }
}
