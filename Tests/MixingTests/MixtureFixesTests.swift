import Foundation
import Mixing
import Testing

/// The mixing gaps found on unseen data (issue 20 §3): a mixture never silently loses an
/// objective or a language, errors say where the records went, Filipino is one language, and the
/// held-out side follows the mixture's shares unless asked otherwise.
@Suite struct MixtureFixesTests {
    func failure(_ s: Scratch, _ yaml: String, out: String = "out") -> String {
        do { _ = try s.run(yaml, out: out); return "no error" } catch { return "\(error)" }
    }

    @Test func emptySourceIsAnErrorNamingIt() throws {
        let s = try Scratch()
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 20])
        let empty = try s.write("empty.jsonl", "")
        let message = failure(s, """
            sources: [{name: safety, path: \(empty), objective: safety, language: en}, {name: general, path: \(general)}]
            mixtures: [{name: m, shares: {safety: 0.15}}]
            """)
        #expect(message.contains("source 'safety'") && message.contains("empty.jsonl holds no records"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("out").path))
    }

    /// `size: max` with `within: language` when one objective lacks a language used to give a
    /// mixture of a few examples with "safety 0.00 %"; now the empty cell is named.
    @Test func anObjectiveMissingALanguageWithinLanguageNamesTheCell() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 30])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 100, "hi": 100])
        let message = failure(s, """
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: m, shares: {safety: 0.15}, within: language, size: max}]
            """)
        #expect(message.contains("mixture 'm': cell safety/hi is empty"), "\(message)")
        #expect(message.contains("source 'safety'") && message.contains("within: overall"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("out").path))
        // A listed language that no objective has is named too.
        let listed = failure(s, """
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: m, languages: [en, ar], shares: {safety: 0.15}}]
            """)
        #expect(listed.contains("language ar (Arabic) has no training records"), "\(listed)")
    }

    @Test func anObjectiveEndingWithZeroExamplesIsAnError() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 30])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 100])
        let message = failure(s, """
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: m, shares: {safety: 0.01}, size: 20}]
            """)
        #expect(message.contains("objective 'safety' (share 0.01) gets 0 examples at size 20 examples"), "\(message)")
        // Every record of an objective outside the mixture's languages: named, with where they went.
        let hindi = failure(s, """
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: m, languages: [en, hi], shares: {safety: 0.15}}]
            """)
        #expect(hindi.contains("language hi (Hindi) has no training records"), "\(hindi)")
    }

    @Test func noRecordsInAnyLanguageSaysWhatEachFilterDropped() throws {
        let s = try Scratch()
        let lines = [
            #"{"prompt": "a", "completion": "b", "language": "Serbian"}"#, #"{"prompt": "c", "completion": "d", "language": "Serbian"}"#,
            #"{"prompt": "e", "completion": "f", "language": "Filipino"}"#,
        ]
        let path = try s.write("aya.jsonl", lines.joined(separator: "\n") + "\n")
        let message = failure(s, """
            languages: [en, hi]
            sources: [{name: redteam, path: \(path), objective: safety}]
            mixtures: [{name: m, shares: {safety: 1}}]
            """)
        #expect(message.contains("mixture 'm': no records in any language"), "\(message)")
        #expect(message.contains("source 'redteam' (\(path)): 3 records, 3 dropped by the pool's languages: [en, hi]"), "\(message)")
        #expect(message.contains("their languages: sr 2, fil 1"), "\(message)")
        #expect(message.split(separator: "\n").count == 1)
    }

    /// The Aya red-teaming file is `aya_tgl.jsonl` with `"language": "Filipino"`; the Aya
    /// evaluation suite says `tgl`: one language.
    @Test func filipinoAndTagalogFallInOneCell() throws {
        let s = try Scratch()
        let aya = try s.write("aya_tgl.jsonl", (0..<6).map {
            #"{"prompt": "p\#($0)", "completion": "c", "language": "Filipino"}"#
        }.joined(separator: "\n") + "\n")
        let eval = try s.write("eval.jsonl", (0..<4).map {
            #"{"prompt": "q\#($0)", "completion": "c", "language": "tgl"}"#
        }.joined(separator: "\n") + "\n")
        let (summary, out) = try s.run("""
            languages: [tl]
            sources: [{name: aya, path: \(aya), objective: g}, {name: eval, path: \(eval), objective: g}]
            mixtures: [{name: m, shares: {g: 1}}]
            """)
        #expect(summary.mixtures.first?.trainRecords == 10)
        #expect(try cellCounts(out.appendingPathComponent("m")) == ["g/fil": 10])
    }

    func heldOutSources(_ s: Scratch) throws -> String {
        var lines: [String] = []
        for i in 0..<100 { lines.append(#"{"prompt": "s\#(i)", "completion": "c", "language": "en", "source_id": "s\#(i)"}"#) }
        let safety = try s.write("s.jsonl", lines.joined(separator: "\n") + "\n")
        lines = []
        for i in 0..<900 { lines.append(#"{"prompt": "g\#(i)", "completion": "c", "language": "en", "source_id": "g\#(i)"}"#) }
        let general = try s.write("g.jsonl", lines.joined(separator: "\n") + "\n")
        return "sources: [{name: safety, path: \(safety), objective: safety}, {name: general, path: \(general), objective: general}]"
    }

    /// By default the held-out side is drawn to the mixture's shares; `held_out_mode: pool` keeps
    /// every held-out record, and the manifest says so plainly.
    @Test func heldOutFollowsTheSharesByDefault() throws {
        let s = try Scratch()
        let sources = try heldOutSources(s)
        let (_, out) = try s.run("""
            held_out: 0.2
            \(sources)
            mixtures:
              - {name: half, shares: {safety: 0.5}}
              - {name: pooled, shares: {safety: 0.5}, held_out_mode: pool}
            """)
        let train = try cellCounts(out.appendingPathComponent("half"))
        let trainSafety = train["safety/en"] ?? 0, trainGeneral = train["general/en"] ?? 0
        #expect(trainSafety == trainGeneral && trainSafety > 60)
        let held = try cellCounts(out.appendingPathComponent("half"), side: "held_out")
        let heldSafety = held["safety/en"] ?? 0, heldGeneral = held["general/en"] ?? 0
        #expect(abs(heldSafety - heldGeneral) <= 1 && heldSafety > 10, "\(held)")
        let m = try manifest(out.appendingPathComponent("half"))
        let side = try #require(m["held_out"] as? [String: Any])
        #expect(side["mode"] as? String == "shares")
        #expect((side["shares"] as? [String: Any])?["safety"] as? Double == 0.5)
        #expect(((m["definition"] as? [String: Any])?["held_out_mode"] as? String) == "shares")
        // No group on both sides.
        func ids(_ folder: String, _ side: String) throws -> Set<String> {
            Set(try jsonLines(out.appendingPathComponent("\(folder)/\(side).meta.jsonl")).map { $0["source_id"] as! String })
        }
        #expect(try ids("half", "train").isDisjoint(with: ids("half", "held_out")))

        // pool: every held-out record of the pool (≈ 20 % of the groups), whatever the shares.
        let pooled = try cellCounts(out.appendingPathComponent("pooled"), side: "held_out")
        #expect(pooled.values.reduce(0, +) == 200)
        #expect((pooled["general/en"] ?? 0) > 3 * (pooled["safety/en"] ?? 0))
        let note = try #require((try manifest(out.appendingPathComponent("pooled"))["held_out"] as? [String: Any])?["note"] as? String)
        #expect(note.contains("every held-out record of the pool") && note.contains("does not follow the mixture's shares"))
    }

    @Test func heldOutModeIsChecked() throws {
        let s = try Scratch()
        let sources = try heldOutSources(s)
        let message = failure(s, "held_out: 0.1\nheld_out_mode: some\n\(sources)\nmixtures: [{name: m, shares: {safety: 0.5}}]\n")
        #expect(message.contains(":2: held_out_mode: expected shares"), "\(message)")
        let (_, out) = try s.run("held_out: {fraction: 0.1, mode: pool}\n\(sources)\nmixtures: [{name: m, shares: {safety: 0.5}}]\n")
        #expect((try manifest(out.appendingPathComponent("m"))["held_out"] as? [String: Any])?["mode"] as? String == "pool")
    }
}
