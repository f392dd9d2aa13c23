import Foundation
import Mixing
import Testing

@Suite struct SharesTests {
    /// Realised shares are exact to one example: overall, and inside every language when asked.
    @Test(arguments: [0.15, 0.3, 0.5, 0.07])
    func sharesExactToOneExample(_ share: Double) throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 40, "hi": 25, "fr": 33])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 200, "hi": 90, "fr": 150])
        let yaml = """
            seed: 3
            dedup: none
            sources:
              - {name: safety, path: \(safety)}
              - {name: general, path: \(general)}
            mixtures:
              - {name: overall, shares: {safety: \(share)}, size: 170}
              - {name: perlang, shares: {safety: \(share)}, within: language, size: 170}
              - {name: biggest, shares: {safety: \(share)}, within: language}
            """
        let (_, out) = try s.run(yaml)
        let overall = try cellCounts(out.appendingPathComponent("overall"))
        let safetyTotal = overall.filter { $0.key.hasPrefix("safety/") }.values.reduce(0, +)
        let total = overall.values.reduce(0, +)
        #expect(total == 170)
        #expect(abs(Double(safetyTotal) - share * 170) <= 1)
        for name in ["perlang", "biggest"] {
            let cells = try cellCounts(out.appendingPathComponent(name))
            for lang in ["en", "hi", "fr"] {
                let sN = cells["safety/\(lang)"] ?? 0, gN = cells["general/\(lang)"] ?? 0
                #expect(abs(Double(sN) - share * Double(sN + gN)) <= 1, "\(name) \(lang): \(sN) of \(sN + gN)")
            }
        }
        // size: max takes as much as the scarcest cell allows: some cell is used up entirely.
        let m = try manifest(out.appendingPathComponent("biggest"))
        let cells = try #require((m["train"] as? [String: Any])?["cells"] as? [[String: Any]])
        #expect(cells.contains { ($0["realised"] as? Double) == ($0["available"] as? Double) })
        #expect(cells.allSatisfy { ($0["realised"] as! Double) <= ($0["available"] as! Double) })
    }

    @Test func ratioOneToFiveIsOneSixth() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 100])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 600])
        let (summary, _) = try s.run("""
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: r, ratio: {safety: 1, general: 5}, size: 600}]
            """)
        #expect(summary.mixtures[0].shares["safety"] == 100.0 / 600.0)
    }

    @Test func zeroAndFullShares() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 10, "ar": 10])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 30, "ar": 30])
        let (_, out) = try s.run("""
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: none, shares: {general: 1}}, {name: all, shares: {safety: 1}}]
            """)
        let none = try cellCounts(out.appendingPathComponent("none")), all = try cellCounts(out.appendingPathComponent("all"))
        #expect(none.keys.allSatisfy { $0.hasPrefix("general/") } && none.values.reduce(0, +) == 60)
        #expect(all.keys.allSatisfy { $0.hasPrefix("safety/") } && all.values.reduce(0, +) == 20)
    }

    @Test func charactersUnitWithinOneRecordOfTheTarget() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 80], charsJitter: true)
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 300], seed: 5, charsJitter: true)
        let (_, out) = try s.run("""
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: c, shares: {safety: 0.2}, unit: characters, size: 9000}]
            """)
        let m = try manifest(out.appendingPathComponent("c"))
        let cells = try #require((m["train"] as? [String: Any])?["cells"] as? [[String: Any]])
        for cell in cells {
            let target = cell["target"] as! Double, realised = cell["realised"] as! Double
            #expect(realised >= target && realised - target < 110, "\(cell)")  // one record is < 110 characters here
        }
        let t = cells.map { $0["target"] as! Double }
        #expect(t.reduce(0, +) == 9000 && abs(t[0] - 1800) <= 1)
    }
}

@Suite struct WeightingTests {
    let counts = ["en": 400, "hi": 100, "ar": 25]

    func budgets(_ weighting: String, size: Int, oversample: String = "false") throws -> [String: Int] {
        let s = try Scratch()
        let general = try s.source("g.jsonl", objective: "general", counts: counts)
        let (_, out) = try s.run("""
            dedup: none
            sources: [{name: general, path: \(general)}]
            mixtures: [{name: w, shares: {general: 1}, weighting: \(weighting), size: \(size), oversample: \(oversample)}]
            """)
        return try cellCounts(out.appendingPathComponent("w")).reduce(into: [:]) { $0[String($1.key.dropFirst(8))] = $1.value }
    }

    @Test func proportionalUniformTemperature() throws {
        #expect(try budgets("proportional", size: 105) == ["en": 80, "hi": 20, "ar": 5])
        #expect(try budgets("uniform", size: 75) == ["en": 25, "hi": 25, "ar": 25])
        // alpha = 0 is uniform, alpha = 1 proportional; alpha = 0.5: q ∝ sqrt(p) = 20:10:5.
        #expect(try budgets("{temperature: 0}", size: 75) == ["en": 25, "hi": 25, "ar": 25])
        #expect(try budgets("{temperature: 1}", size: 105) == ["en": 80, "hi": 20, "ar": 5])
        #expect(try budgets("{temperature: 0.5}", size: 70) == ["en": 40, "hi": 20, "ar": 10])
    }

    @Test func unimaxCapsSmallLanguagesAtTheirEpochs() throws {
        // Uniform budget 300/3 = 100 each, but ar has 25 records and may be seen twice: 50; the
        // remaining 250 are split evenly between hi and en (hi's 125 is within its 2 × 100 cap).
        #expect(try budgets("{unimax: 2}", size: 300, oversample: "2") == ["ar": 50, "hi": 125, "en": 125])
        // With one epoch, hi is capped at 100 and en takes the rest.
        #expect(try budgets("unimax", size: 300) == ["ar": 25, "hi": 100, "en": 175])
    }
}

@Suite struct SamplingRulesTests {
    @Test func oversamplingMustBeAskedForAndIsReported() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 20])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 100])
        let yaml = """
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: o, shares: {safety: 0.5}, size: 100, oversample: OVER}]
            """
        let error = #expect(throws: MixError.self) { _ = try s.run(yaml.replacingOccurrences(of: "OVER", with: "false")) }
        #expect(error?.message.contains("safety/en needs 50 examples but 20 are available") == true)
        #expect(throws: MixError.self) { _ = try s.run(yaml.replacingOccurrences(of: "OVER", with: "2")) }  // 2.5 passes needed
        let (_, out) = try s.run(yaml.replacingOccurrences(of: "OVER", with: "3"))
        let meta = try jsonLines(out.appendingPathComponent("o/train.meta.jsonl"))
        #expect(meta.count == 100)
        #expect(meta.filter { $0["objective"] as? String == "safety" }.map { $0["repeat"] as! Int }.max() == 2)
        let m = try manifest(out.appendingPathComponent("o"))
        let epochs = try #require((m["train"] as? [String: Any])?["epochs_by_source"] as? [[String: Any]])
        #expect(epochs.first { $0["source"] as? String == "safety" }?["sampling"] as? String == "oversampled")
        #expect(epochs.first { $0["source"] as? String == "safety" }?["epochs"] as? Double == 2.5)
        #expect(epochs.first { $0["source"] as? String == "general" }?["sampling"] as? String == "undersampled")
    }

    @Test func duplicatesAreDroppedAndCounted() throws {
        let s = try Scratch()
        let rows = [
            #"{"prompt": "How are you?", "completion": "a", "language": "en"}"#,
            #"{"prompt": "How are you?", "completion": "b", "language": "en"}"#,
            #"{"prompt": "  how ARE   you ", "completion": "c", "language": "en"}"#,
            #"{"prompt": "Ça va ?", "completion": "d", "language": "fr"}"#,
            #"{"prompt": "ÇA  VA", "completion": "e", "language": "fr"}"#,
            #"{"prompt": "Something else", "completion": "f", "language": "en"}"#,
        ]
        let path = try s.write("d.jsonl", rows.joined(separator: "\n") + "\n")
        let (summary, out) = try s.run("""
            sources: [{name: d, path: \(path), objective: general}]
            mixtures: [{name: m, shares: {general: 1}}]
            """)
        #expect(summary.duplicates == 3)
        let m = try manifest(out.appendingPathComponent("m"))
        let input = try #require((m["inputs"] as? [[String: Any]])?.first)
        #expect(input["duplicates_exact"] as? Int == 1 && input["duplicates_normalized"] as? Int == 2)
        #expect(try jsonLines(out.appendingPathComponent("m/train.sft.jsonl")).count == 3)
    }

    /// Translations of one source prompt never straddle the split, and the share of held-out
    /// groups is the fraction asked for.
    @Test func heldOutSplitIsLeakFree() throws {
        let s = try Scratch()
        var lines: [String] = []
        for i in 0..<50 {
            for lang in ["en", "hi", "fr"] {
                lines.append(#"{"prompt": "p\#(i) \#(lang)", "completion": "c", "language": "\#(lang)", "source_id": \#(i)}"#)
            }
        }
        let path = try s.write("p.jsonl", lines.joined(separator: "\n") + "\n")
        let (_, out) = try s.run("""
            held_out: 0.2
            sources: [{name: p, path: \(path), objective: general}]
            mixtures: [{name: m, shares: {general: 1}}]
            """)
        let train = Set(try jsonLines(out.appendingPathComponent("m/train.meta.jsonl")).map { $0["source_id"] as! String })
        let held = try jsonLines(out.appendingPathComponent("m/held_out.meta.jsonl")).map { $0["source_id"] as! String }
        #expect(train.isDisjoint(with: held))
        #expect(Set(held).count == 10 && held.count == 30)
        #expect(train.count == 40)
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytesAnyThreads() throws {
        let s = try Scratch()
        let safety = try s.source("s.jsonl", objective: "safety", counts: ["en": 60, "hi": 40])
        let general = try s.source("g.jsonl", objective: "general", counts: ["en": 300, "hi": 200])
        let yaml = """
            seed: 11
            held_out: 0.1
            sources: [{name: safety, path: \(safety)}, {name: general, path: \(general)}]
            mixtures: [{name: m, shares: {safety: 0.15}, kinds: [sft, dpo]}]
            """
        func files(_ out: URL) throws -> [Data] {
            try ["train.sft.jsonl", "train.dpo.jsonl", "train.dpo-implicit.jsonl", "train.meta.jsonl", "held_out.sft.jsonl"].map {
                try Data(contentsOf: out.appendingPathComponent("m/\($0)"))
            }
        }
        let a = try files(s.run(yaml, threads: 1, out: "a").1)
        let b = try files(s.run(yaml, threads: 2, out: "b").1)
        let c = try files(s.run(yaml, seed: 12, threads: 2, out: "c").1)
        #expect(a == b)
        #expect(a[0] != c[0] && a[3] != c[3])
        #expect(a.allSatisfy { !$0.isEmpty })
    }
}

/// Every line loads as the format it claims (paper-spec §D.2): TRL / axolotl / torchtune field rules.
@Suite struct OutputFormatTests {
    func messages(_ value: Any?) -> [[String: String]]? {
        guard let list = value as? [[String: Any]] else { return nil }
        let out = list.compactMap { m -> [String: String]? in
            guard m.count == 2, let r = m["role"] as? String, let c = m["content"] as? String else { return nil }
            return ["role": r, "content": c]
        }
        return out.count == list.count ? out : nil
    }

    @Test func linesFollowTheTrainersFieldRules() throws {
        let out = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let s = try Scratch()
        let (summary, folder) = try s.run(try String(contentsOf: out.appendingPathComponent("examples/mix-paper.yml"), encoding: .utf8)
            .replacingOccurrences(of: "path: data/", with: "path: \(out.path)/examples/data/"))
        #expect(summary.mixtures.count == 10)
        for mixture in summary.mixtures {
            for side in ["train", "held_out"] {
                let dir = folder.appendingPathComponent(mixture.name)
                let sft = try jsonLines(dir.appendingPathComponent("\(side).sft.jsonl"))
                let dpo = try jsonLines(dir.appendingPathComponent("\(side).dpo.jsonl"))
                let implicit = try jsonLines(dir.appendingPathComponent("\(side).dpo-implicit.jsonl"))
                let meta = try jsonLines(dir.appendingPathComponent("\(side).meta.jsonl"))
                #expect(sft.count == meta.count && dpo.count == meta.count && implicit.count == meta.count && !meta.isEmpty)
                for line in sft {
                    // TRL SFTTrainer conversational / axolotl chat_template / torchtune openai style.
                    #expect(line.keys.sorted() == ["messages"])
                    let turns = try #require(messages(line["messages"]))
                    #expect(turns.allSatisfy { ["system", "user", "assistant"].contains($0["role"]!) })
                    #expect(turns.last?["role"] == "assistant" && turns.contains { $0["role"] == "user" })
                }
                for (explicit, full) in zip(dpo, implicit) {
                    #expect(explicit.keys.sorted() == ["chosen", "prompt", "rejected"])
                    let prompt = try #require(messages(explicit["prompt"]))
                    let chosen = try #require(messages(explicit["chosen"])), rejected = try #require(messages(explicit["rejected"]))
                    #expect(prompt.last?["role"] == "user")
                    #expect(chosen.allSatisfy { $0["role"] == "assistant" } && rejected.allSatisfy { $0["role"] == "assistant" })
                    #expect(full.keys.sorted() == ["chosen", "rejected"])
                    let fc = try #require(messages(full["chosen"])), fr = try #require(messages(full["rejected"]))
                    #expect(fc == prompt + chosen && fr == prompt + rejected)
                }
                for m in meta {
                    #expect(["safety", "general"].contains(m["objective"] as? String))
                    #expect((m["origin"] as? String)?.hasPrefix("data/") == false)
                }
            }
        }
        // Monolingual mixtures hold one language each.
        let mono = try jsonLines(folder.appendingPathComponent("mono-hi-15/train.meta.jsonl"))
        #expect(Set(mono.map { $0["language"] as! String }) == ["hi"])
        let safetyMeta = try jsonLines(folder.appendingPathComponent("safety-100/train.meta.jsonl"))
        #expect(safetyMeta.allSatisfy { !($0["harm_category"] as! [String]).isEmpty })
    }
}

@Suite struct MixErrorTests {
    func error(_ yaml: String, files: [String: String] = [:], skipInvalid: Bool = false) throws -> String {
        let s = try Scratch()
        var y = yaml
        for (name, text) in files { y = y.replacingOccurrences(of: "$\(name)", with: try s.write(name, text)) }
        do { _ = try s.run(y, skipInvalid: skipInvalid); return "no error" } catch { return "\(error)" }
    }

    @Test func badInputNamesFileAndLine() throws {
        let good = #"{"prompt": "a", "completion": "b", "language": "en"}"#
        let yaml = "sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}}]\n"
        let malformed = try error(yaml, files: ["d.jsonl": good + "\n" + #"{"prompt": "a", "#]).replacingOccurrences(of: "/private", with: "")
        #expect(malformed.contains("d.jsonl:2: malformed JSON"))
        #expect(try error(yaml, files: ["d.jsonl": good + "\n" + #"{"completion": "b", "language": "en"}"#]).contains("d.jsonl:2: no prompt"))
        #expect(try error(yaml, files: ["d.jsonl": #"{"prompt": "a", "completion": "b", "language": "Elvish"}"#]).contains("d.jsonl:1: unknown language 'Elvish'"))
        #expect(try error(yaml, files: ["d.jsonl": #"{"prompt": "a", "completion": "b"}"#]).contains("d.jsonl:1: no language"))
    }

    @Test func skipInvalidCountsInTheManifest() throws {
        let s = try Scratch()
        let path = try s.write("d.jsonl", [
            #"{"prompt": "a", "completion": "b", "language": "en"}"#, #"{"prompt": "#,
            #"{"prompt": "c", "completion": "d", "language": "xx-unknown"}"#, #"{"prompt": "e", "completion": "f", "language": "en"}"#,
        ].joined(separator: "\n"))
        let (summary, out) = try s.run("sources: [{name: d, path: \(path), objective: g}]\nmixtures: [{name: m, shares: {g: 1}}]\n", skipInvalid: true)
        #expect(summary.skippedInvalid == 2)
        let input = try #require((try manifest(out.appendingPathComponent("m"))["inputs"] as? [[String: Any]])?.first)
        #expect(input["skipped_invalid"] as? Int == 2 && (input["skipped_examples"] as? [String])?.count == 2)
        #expect(try jsonLines(out.appendingPathComponent("m/train.sft.jsonl")).count == 2)
    }

    @Test func configErrorsNameLineAndKey() throws {
        let d = #"{"prompt": "a", "completion": "b", "language": "en"}"#
        #expect(try error("sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 0.5, h: 0.5}}]\n", files: ["d.jsonl": d])
            .contains(":2: mixtures[0].shares: no source has objective 'h'"))
        #expect(try error("sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures:\n  - {name: m, shares: {g: 0.5}}\n", files: ["d.jsonl": d])
            .contains(":3: mixtures[0].shares: shares sum to 0.5"))
        #expect(try error("sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}, weighting: zipf}]\n", files: ["d.jsonl": d])
            .contains("weighting: expected proportional"))
        #expect(try error("sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}, sise: 3}]\n", files: ["d.jsonl": d])
            .contains("unknown key 'sise'"))
        // A file that only looks like Parquet: one line naming the source and the file.
        let notParquet = try error("sources: [{name: d, path: $d.parquet, objective: g}]\nmixtures: [{name: m, shares: {g: 1}}]\n",
                                   files: ["d.parquet": "PAR1"])
        #expect(notParquet.contains("source 'd'") && notParquet.contains("d.parquet") && !notParquet.contains("\n"))
        #expect(try error("sources: [{name: d, path: $d.jsonl, objective: g}]\nmixtures: [{name: m, shares: {g: 1}, kinds: dpo}]\n", files: ["d.jsonl": d])
            .contains("1 records of source 'd' lack a chosen/rejected pair (dpo), first at"))
    }
}
