import Foundation
import Testing

let miniature = repositoryRoot.appendingPathComponent("examples/miniature")

/// A small study on the miniature's data and base model: two SFT runs, a two-point linear sweep,
/// the rule judge, two prompts per language. `extra` is appended (more runs, engines).
func smallStudy(_ dir: URL, lr: String = "3.0e-3", trainEngine: String = "", generation: String = "{engine: local, max_tokens: 8}",
                extra: String = "") throws -> URL {
    let m = miniature.path
    let text = """
        name: small
        seed: 3
        mix: \(m)/mix.yml
        models: {base: \(m)/base}
        defaults:
          train: {max_length: 64, batch_size: 8, max_steps: 6, save_every: 2, schedule: constant}
        train:
          sft-0: {from: base, data: safety-0, objective: sft, settings: {lr: 3.0e-3}\(trainEngine)}
          sft-100: {from: base, data: safety-100, objective: sft, settings: {lr: \(lr)}}
        \(extra)
        merge:
          linear:
            sweep: [0, 1]
            config: {merge_method: linear, dtype: float32,
                     models: [{model: sft-100, parameters: {weight: "{w}"}}, {model: sft-0, parameters: {weight: "{1-w}"}}]}
        evaluate:
          prompts:
            redteaming: {kind: harm, format: aya_redteaming, validation: \(m)/data/eval/redteaming-validation.jsonl, test: \(m)/data/eval/redteaming-test.jsonl}
            dolly: {kind: general, format: aya_evaluation, validation: \(m)/data/eval/dolly-validation.jsonl, test: \(m)/data/eval/dolly-test.jsonl}
          reference: base
          generation: \(generation)
          judge: rules
          replicates: 50
        report:
          baseline: {sft: sft-0}
          table1:
            - {label: "0% Safety Mix", sft: sft-0}
            - {label: "100% Safety Mix", sft: sft-100}
            - {label: "Linear merge", sft: linear}
          ablation: linear
        profiles:
          quick: {prompts: 2}
        """
    let url = dir.appendingPathComponent("study.yml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
}

func json(_ url: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) }

func sha256(_ url: URL) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = [url.path]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(String(decoding: out, as: UTF8.self).prefix(64))
}

/// Lines of a run's progress output that ran (not cached) a step.
func ranSteps(_ r: Run) -> [String] {
    r.stdout.split(separator: "\n").filter { $0.contains("· done") }.compactMap { line in
        guard let close = line.firstIndex(of: "]"), let dot = line.range(of: " · done") else { return nil }
        return String(line[line.index(after: close)..<dot.lowerBound]).trimmingCharacters(in: .whitespaces)
    }
}

@Suite("mixmerge study", .serialized)
struct StudyCLITests {
    @Test("a small study runs end to end: every step's output, the lineage, the selection on validation, and a rerun that is all cache hits")
    func pipeline() throws {
        let dir = scratch()
        let study = try smallStudy(dir)
        let out = dir.appendingPathComponent("out")
        let r = try mixmerge(["study", study.path, out.path, "--quick"])
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout.suffix(2000))")
        let report = out.appendingPathComponent("report")
        for f in ["report.md", "report.html", "table1.csv", "numbers.json", "lineage.json", "fig5-tradeoff.svg", "fig6-weight.svg", "evaluation.md"] {
            #expect(FileManager.default.fileExists(atPath: report.appendingPathComponent(f).path), "\(f) missing")
        }
        // The lineage: data manifest → training run → merge → selection.
        let lineage = try #require(try json(out.appendingPathComponent("lineage.json")) as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: lineage.map { ($0["name"] as? String ?? "", $0) })
        let sft0 = try #require(byName["sft-0"])
        #expect(sft0["kind"] as? String == "train" && sft0["from"] as? String == "base")
        let data = try #require(sft0["data"] as? [String: Any])
        #expect(data["mixture"] as? String == "safety-0")
        let dataFile = URL(fileURLWithPath: try #require(data["file"] as? String))
        let manifest = dataFile.deletingLastPathComponent().appendingPathComponent("manifest.json")
        #expect(data["manifest_sha256"] as? String == (try sha256(manifest)))
        let member = try #require(byName["linear@1"])
        #expect(member["kind"] as? String == "merge" && (member["inputs"] as? [String]) == ["sft-100", "sft-0"])
        let picked = try #require(byName["linear"])
        #expect(picked["kind"] as? String == "select" && picked["on"] as? String == "validation")
        #expect(["linear@0", "linear@1"].contains(picked["selected"] as? String ?? ""))
        // Every model folder the lineage names holds a model.
        for e in lineage where ["train", "merge"].contains(e["kind"] as? String ?? "") {
            let path = try #require(e["path"] as? String)
            #expect(FileManager.default.fileExists(atPath: path + "/config.json"), "\(e["name"] ?? "") has no model")
        }
        // Table 1 in the report names the rows it was asked for, with numbers for the mixes.
        let md = try String(contentsOf: report.appendingPathComponent("report.md"), encoding: .utf8)
        for label in ["0% Safety Mix", "100% Safety Mix", "Linear merge"] { #expect(md.contains("| \(label)")) }
        // Killed after a training run renamed its folder into place but before the runner recorded it:
        // the rerun takes the finished folder and runs nothing after it again.
        let statePath = out.appendingPathComponent("state.json")
        var state = try #require(try json(statePath) as? [String: Any])
        state["train sft-0"] = nil
        try JSONSerialization.data(withJSONObject: state).write(to: statePath)
        let window = try mixmerge(["study", study.path, out.path, "--quick"])
        #expect(window.status == 0, "\(window.stderr)")
        #expect(ranSteps(window) == ["train sft-0"], "\(ranSteps(window))")
        // A rerun changes nothing: every step is a cache hit.
        let again = try mixmerge(["study", study.path, out.path, "--quick"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(ranSteps(again).isEmpty, "rerun ran: \(ranSteps(again))")
        #expect(again.stdout.contains("0 steps run"))
        // An edit to one run redoes that run and what depends on it, nothing else.
        let edited = try smallStudy(dir, lr: "1.0e-3")
        let third = try mixmerge(["study", edited.path, out.path, "--quick"])
        #expect(third.status == 0, "\(third.stderr)")
        let ran = Set(ranSteps(third))
        #expect(ran.contains("train sft-100") && ran.contains("merge linear@0") && ran.contains("merge linear@1") && ran.contains("report"))
        #expect(!ran.contains("train sft-0") && !ran.contains("mix") && !ran.contains("generate base test") && !ran.contains("generate sft-0 test"),
                "\(ran.sorted())")
        // --only runs a model and what it needs, nothing else.
        let only = try mixmerge(["study", edited.path, dir.appendingPathComponent("only").path, "--quick", "--only", "sft-0"])
        #expect(only.status == 0, "\(only.stderr)")
        #expect(ranSteps(only) == ["mix", "train sft-0"], "\(ranSteps(only))")
        // --dry-run now shows everything cached and runs nothing.
        let dry = try mixmerge(["study", edited.path, out.path, "--quick", "--dry-run"])
        #expect(dry.status == 0 && !dry.stdout.contains("  run  "), "\(dry.stdout)")
    }

    @Test("kill -9 at any moment: the rerun resumes and ends with the same numbers and model bytes as an uninterrupted run")
    func killResume() throws {
        let dir = scratch()
        let study = try smallStudy(dir)
        let whole = dir.appendingPathComponent("whole"), killed = dir.appendingPathComponent("killed")
        let a = try mixmerge(["study", study.path, whole.path, "--quick", "--quiet"])
        #expect(a.status == 0, "\(a.stderr)")
        // Start again into another folder and kill the runner while the second training run is under way.
        let p = Process()
        p.executableURL = binary
        p.arguments = ["study", study.path, killed.path, "--quick", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let log = killed.appendingPathComponent("logs/train-sft-100.log")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: log.path) && Date() < deadline && p.isRunning { usleep(20_000) }
        usleep(300_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "the study finished before it could be killed")
        let b = try mixmerge(["study", study.path, killed.path, "--quick", "--quiet"])
        #expect(b.status == 0, "\(b.stderr)")
        let n1 = try Data(contentsOf: whole.appendingPathComponent("report/numbers.json"))
        let n2 = try Data(contentsOf: killed.appendingPathComponent("report/numbers.json"))
        #expect(n1 == n2)
        for m in ["sft-0", "sft-100", "linear@1"] {
            let w1 = try Data(contentsOf: whole.appendingPathComponent("models/\(m)/model.safetensors"))
            let w2 = try Data(contentsOf: killed.appendingPathComponent("models/\(m)/model.safetensors"))
            #expect(w1 == w2, "\(m) differs after the resume")
        }
    }

    @Test("external engines: training through a command template and generation through a serve command, started and stopped")
    func externalEngines() throws {
        let dir = scratch()
        // The stand-ins: a training command that leaves an HF folder at {out} (here mixmerge's own trainer behind
        // the template, as `accelerate launch` would be), and a serve command that starts an OpenAI-compatible server.
        let study = try smallStudy(
            dir, trainEngine: ", engine: command, command: \"{mixmerge} train sft --model {model} --data {data} --out {out} --max-steps 3 --max-length 64 --quiet\"",
            generation: "{engine: serve, command: \"{mixmerge} serve {model}={name} --port {port}\", max_tokens: 8}",
            // engine: trl writes the TRL run (`mixmerge train --emit trl`) and launches it; the stand-in launcher
            // checks the emitted script is there and leaves a model folder, as accelerate would.
            extra: "  sft-trl: {from: base, data: safety-15, objective: sft, engine: trl, command: \"test -f {trl}/train.py && test -x {trl}/launch.sh && cp -r {model} {out}\"}")
        let out = dir.appendingPathComponent("out")
        let r = try mixmerge(["study", study.path, out.path, "--quick"])
        #expect(r.status == 0, "\(r.stderr)\n\(r.stdout.suffix(1500))")
        let trainLog = try String(contentsOf: out.appendingPathComponent("logs/train-sft-0.log"), encoding: .utf8)
        #expect(trainLog.contains("train sft --model") && trainLog.contains("--max-steps 3"))
        let serveLog = try String(contentsOf: out.appendingPathComponent("logs/generate-base-test.log"), encoding: .utf8)
        #expect(serveLog.contains("serve") && serveLog.contains("--port"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("report/report.md").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("models/sft-trl/config.json").path))
        // Every server was stopped: nothing listens on the ports the logs name any more.
        let ps = Process()
        ps.executableURL = URL(fileURLWithPath: "/bin/sh")
        ps.arguments = ["-c", "ps -eo args | grep -F '\(out.path)' | grep -c '[s]erve' || true"]
        let pipe = Pipe()
        ps.standardOutput = pipe
        try ps.run()
        ps.waitUntilExit()
        #expect(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("bad study files: each problem is one line with file:line, found before anything runs")
    func badFiles() throws {
        let dir = scratch()
        let cases: [(String, String, String)] = [
            ("cycle", "  a: {from: b, data: safety-0, objective: sft}\n  b: {from: a, data: safety-0, objective: sft}", "a cycle: a → b → a"),
            ("unknown run", "  a: {from: nosuch, data: safety-0, objective: sft}", "unknown model 'nosuch'"),
            ("missing data", "  a: {from: base, data: nosuch.jsonl, objective: sft}", "'nosuch.jsonl' is neither a mixture nor a file"),
        ]
        for (name, runs, expected) in cases {
            let study = dir.appendingPathComponent("\(name.replacingOccurrences(of: " ", with: "-")).yml")
            try """
                mix: \(miniature.path)/mix.yml
                models: {base: \(miniature.path)/base}
                train:
                \(runs)
                """.write(to: study, atomically: true, encoding: .utf8)
            let out = dir.appendingPathComponent("out-\(name)")
            let r = try mixmerge(["study", study.path, out.path])
            #expect(r.status != 0, "\(name)")
            #expect(r.stderr.contains(expected), "\(name): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("error: \(study.lastPathComponent):") }, "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(name): something ran")
        }
        // A merge of models of different architectures (the Cohere base and a Llama fixture).
        let arch = try smallStudy(dir, extra: "")
        var text = try String(contentsOf: arch, encoding: .utf8)
        text = text.replacingOccurrences(of: "models: {base: \(miniature.path)/base}",
                                         with: "models: {base: \(miniature.path)/base, llama: \(fixtures.path)/models/llama/base}")
        text = text.replacingOccurrences(of: "{model: sft-0, parameters: {weight: \"{1-w}\"}}", with: "{model: llama, parameters: {weight: \"{1-w}\"}}")
        try text.write(to: arch, atomically: true, encoding: .utf8)
        var r = try mixmerge(["study", arch.path, dir.appendingPathComponent("out-arch").path])
        #expect(r.status != 0 && r.stderr.contains("models of different architectures cannot be merged"), "\(r.stderr)")
        // A remote judge whose key variable is not set.
        let judge = try smallStudy(dir)
        text = try String(contentsOf: judge, encoding: .utf8).replacingOccurrences(
            of: "judge: rules", with: "judge: {url: https://api.example.com/v1, model: gpt-4o, key_env: MIXMERGE_TEST_UNSET_KEY}")
        try text.write(to: judge, atomically: true, encoding: .utf8)
        r = try mixmerge(["study", judge.path, dir.appendingPathComponent("out-judge").path])
        #expect(r.status != 0 && r.stderr.contains("MIXMERGE_TEST_UNSET_KEY is not set"), "\(r.stderr)")
        // A weight search that would be scored on the test prompts: refused, with the reason.
        let tuned = try smallStudy(dir)
        text = try String(contentsOf: tuned, encoding: .utf8).replacingOccurrences(
            of: "validation: \(miniature.path)/data/eval/dolly-validation.jsonl", with: "validation: \(miniature.path)/data/eval/dolly-test.jsonl")
        try text.write(to: tuned, atomically: true, encoding: .utf8)
        r = try mixmerge(["study", tuned.path, dir.appendingPathComponent("out-tuned").path])
        #expect(r.status != 0 && r.stderr.contains("tuned on the test prompts"), "\(r.stderr)")
        text = try String(contentsOf: try smallStudy(dir), encoding: .utf8).replacingOccurrences(of: "  judge: rules", with: "  judge: rules\n  select: {on: test}")
        try text.write(to: tuned, atomically: true, encoding: .utf8)
        r = try mixmerge(["study", tuned.path, dir.appendingPathComponent("out-tuned").path])
        #expect(r.status != 0 && r.stderr.contains("scored on the validation prompts only"), "\(r.stderr)")
    }

    @Test("the shipped studies: the paper's full-scale study passes --dry-run, the miniature plans every step")
    func shipped() throws {
        let paper = try mixmerge(["study", "examples/paper/study.yml", scratch().appendingPathComponent("paper").path, "--dry-run"],
                                 in: repositoryRoot)
        #expect(paper.status == 0, "\(paper.stderr)")
        for step in ["mix", "train sft-15", "train dpo-15", "select slerp-sft", "judge slerp-sft test", "report"] {
            #expect(paper.stdout.contains("  \(step)"), "the paper's plan lacks \(step)")
        }
        let mini = try mixmerge(["study", "examples/miniature/study.yml", scratch().appendingPathComponent("mini").path, "--dry-run"])
        #expect(mini.status == 0, "\(mini.stderr)")
        #expect(mini.stdout.contains("train slerp-sft-dpo") && mini.stdout.contains("merge ties-languages"))
    }
}
