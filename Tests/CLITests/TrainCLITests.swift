import Foundation
import Testing

/// A copy of the tiny Llama fixture with a chat template, for training runs.
func chatModel(_ dir: URL) throws -> URL {
    let folder = dir.appendingPathComponent("model")
    try FileManager.default.copyItem(at: fixtures.appendingPathComponent("models/llama/base"), to: folder)
    let config = folder.appendingPathComponent("tokenizer_config.json")
    var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
    object["chat_template"] = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}"
        + "{% if add_generation_prompt %}assistant:{% endif %}"
    try JSONSerialization.data(withJSONObject: object).write(to: config)
    return folder
}

/// The synthetic task: the user sends four letters of a–h, the assistant answers the first one.
func letterTask(count: Int, seed: UInt64) -> [(prompt: String, answer: String)] {
    var state = seed
    func next() -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % 8)
    }
    let letters = Array("abcdefgh")
    return (0..<count).map { _ in
        let word = String((0..<4).map { _ in letters[next()] })
        return (word, String(word.first!))
    }
}

func jsonl(_ objects: [[String: Any]], _ url: URL) throws {
    let lines = try objects.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
    try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
}

func sftRecords(_ task: [(prompt: String, answer: String)]) -> [[String: Any]] {
    task.map { ["messages": [["role": "user", "content": $0.prompt], ["role": "assistant", "content": $0.answer]]] }
}

/// The records of a training log.
func logRecords(_ url: URL) throws -> [[String: Any]] {
    try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

@Suite("mixmerge train")
struct TrainCLITests {
    @Test("SFT learns a synthetic task: held-out loss falls well below its start and complete answers correctly")
    func sftLearns() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        try jsonl(sftRecords(letterTask(count: 160, seed: 1)), dir.appendingPathComponent("train.sft.jsonl"))
        let held = letterTask(count: 16, seed: 2)
        try jsonl(sftRecords(held), dir.appendingPathComponent("held_out.sft.jsonl"))
        let out = dir.appendingPathComponent("trained")
        let r = try mixmerge([
            "train", "sft", "--model", model.path, "--data", dir.appendingPathComponent("train.sft.jsonl").path, "--out", out.path,
            "--lr", "3e-3", "--epochs", "3", "--batch-size", "8", "--warmup-steps", "5", "--eval-every", "20", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let log = try logRecords(out.appendingPathComponent("log.jsonl"))
        let evals = log.compactMap { ($0["eval_loss"] as? NSNumber)?.doubleValue }
        let first = try #require(evals.first), last = try #require(evals.last)
        #expect(log.first?["step"] as? Int == 0 && evals.count >= 3)
        #expect(last < 0.25 * first, "held-out loss \(first) → \(last)")
        #expect(log.filter { $0["loss"] != nil }.count == 60)
        #expect(log.allSatisfy { $0["step"] as? Int == 0 || ($0["grad_norm"] != nil && $0["learning_rate"] != nil) })
        // The trained folder loads and answers held-out prompts.
        var correct = 0
        for item in held.prefix(8) {
            let c = try mixmerge(["complete", out.path, "--prompt", "<bos>user: \(item.prompt)<eos>assistant:", "--max-tokens", "2", "--greedy", "--json"])
            #expect(c.status == 0, "\(c.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any]
            let text = (object?["text"] as? String ?? "").trimmingCharacters(in: .whitespaces)
            if text.hasPrefix(item.answer) { correct += 1 }
        }
        #expect(correct >= 7, "\(correct) of 8 held-out prompts answered correctly")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(".trained.mixmerge-train").path))
    }

    @Test("DPO raises rewards/accuracies on held-out pairs")
    func dpoLearns() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        func pairs(_ task: [(prompt: String, answer: String)]) -> [[String: Any]] {
            task.map { item in
                let wrong = item.answer == "h" ? "a" : String(UnicodeScalar(item.answer.unicodeScalars.first!.value + 1)!)
                return ["prompt": [["role": "user", "content": item.prompt]],
                        "chosen": [["role": "assistant", "content": item.answer]],
                        "rejected": [["role": "assistant", "content": wrong]]]
            }
        }
        try jsonl(pairs(letterTask(count: 96, seed: 3)), dir.appendingPathComponent("train.dpo.jsonl"))
        try jsonl(pairs(letterTask(count: 16, seed: 4)), dir.appendingPathComponent("held_out.dpo.jsonl"))
        let out = dir.appendingPathComponent("dpo")
        let r = try mixmerge([
            "train", "dpo", "--model", model.path, "--data", dir.appendingPathComponent("train.dpo.jsonl").path, "--out", out.path,
            "--lr", "3e-3", "--beta", "0.5", "--epochs", "4", "--batch-size", "8", "--eval-every", "48", "--quiet",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let log = try logRecords(out.appendingPathComponent("log.jsonl"))
        let acc = log.compactMap { ($0["eval_rewards/accuracies"] as? NSNumber)?.doubleValue }
        #expect(acc.first == 0, "the policy starts equal to its reference: no chosen reward exceeds a rejected one")
        #expect((acc.last ?? 0) >= 0.8, "\(acc)")
        #expect(log.contains { $0["rewards/margins"] != nil && $0["logps/chosen"] != nil && $0["rewards/chosen"] != nil })
    }

    @Test("resume after kill -9 ends with the same bytes as an uninterrupted run")
    func resume() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        try jsonl(sftRecords(letterTask(count: 40, seed: 5)), dir.appendingPathComponent("data.jsonl"))
        let common = ["train", "sft", "--model", model.path, "--data", dir.appendingPathComponent("data.jsonl").path,
                      "--lr", "1e-3", "--max-steps", "8", "--batch-size", "4", "--save-every", "2", "--quiet"]
        let straight = try mixmerge(common + ["--out", dir.appendingPathComponent("a").path])
        #expect(straight.status == 0, "\(straight.stderr)")
        let b = dir.appendingPathComponent("b")
        let killed = try mixmerge(common + ["--out", b.path, "--stop-after-step", "5"])
        #expect(killed.status != 0)
        #expect(!FileManager.default.fileExists(atPath: b.path), "nothing where the finished model would be")
        let again = try mixmerge(common + ["--out", b.path])
        #expect(again.status == 1 && again.stderr.contains("--resume"), "\(again.stderr)")
        let resumed = try mixmerge(common + ["--out", b.path, "--resume", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let x = try Data(contentsOf: dir.appendingPathComponent("a/model.safetensors"))
        let y = try Data(contentsOf: b.appendingPathComponent("model.safetensors"))
        #expect(x == y)
        let logA = try String(contentsOf: dir.appendingPathComponent("a/log.jsonl"), encoding: .utf8)
        let logB = try String(contentsOf: b.appendingPathComponent("log.jsonl"), encoding: .utf8)
        #expect(logA.split(separator: "\n").count == logB.split(separator: "\n").count)
    }

    @Test("Parquet data (pyarrow's messages list<struct>) and a glob train exactly as the same JSON lines")
    func parquetData() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        var files: [Data] = []
        for (n, data) in ["letters.jsonl", "letters.parquet", "letters.parq*"].enumerated() {
            let out = dir.appendingPathComponent("o\(n)")
            let r = try mixmerge(["train", "sft", "--model", model.path, "--data", fixtures.appendingPathComponent("train-data/\(data)").path,
                                  "--out", out.path, "--max-steps", "2", "--batch-size", "4", "--lr", "1e-3", "--quiet"])
            #expect(r.status == 0, "\(data): \(r.stderr)")
            files.append(try Data(contentsOf: out.appendingPathComponent("model.safetensors")))
        }
        #expect(files.count == 3 && files[0] == files[1] && files[1] == files[2])
    }

    @Test("--emit trl DIR (and --emit-trl DIR) writes the TRL run instead of training")
    func emitTRL() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        let data = fixtures.appendingPathComponent("train-data/letters.jsonl").path
        for (n, spelling) in [["--emit", "trl"], ["--emit-trl"]].enumerated() {
            let target = dir.appendingPathComponent("trl\(n)")
            let r = try mixmerge(["train", "dpo", "--model", model.path, "--data", data, "--beta", "0.2"] + spelling + [target.path])
            #expect(r.status == 0, "\(r.stderr)")
            let script = try String(contentsOf: target.appendingPathComponent("train.py"), encoding: .utf8)
            #expect(script.contains("DPOTrainer") && script.contains("beta=0.2"))
            #expect(FileManager.default.isExecutableFile(atPath: target.appendingPathComponent("launch.sh").path))
        }
        let bad = try mixmerge(["train", "sft", "--model", model.path, "--data", data, "--emit", "vllm", dir.path])
        #expect(bad.status != 0 && bad.stderr.contains("--emit"), "\(bad.stderr)")
    }

    @Test("bad input: no assistant turn, too long for the model, a mismatched tokenizer, a full disk — one line, no model left")
    func badInput() throws {
        let dir = scratch()
        let model = try chatModel(dir)
        let data = dir.appendingPathComponent("bad.jsonl")
        try jsonl([["messages": [["role": "user", "content": "abcd"]]]], data)
        let out = dir.appendingPathComponent("o")
        let r = try mixmerge(["train", "sft", "--model", model.path, "--data", data.path, "--out", out.path, "--quiet"])
        #expect(r.status == 1 && r.stderr.contains("bad.jsonl:1") && r.stderr.contains("assistant"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)

        let long = dir.appendingPathComponent("long.jsonl")
        try jsonl(sftRecords([(String(repeating: "ab ", count: 100), "a")]), long)
        let l = try mixmerge(["train", "sft", "--model", model.path, "--data", long.path, "--out", out.path, "--quiet", "--max-length", "4096"])
        #expect(l.status == 1 && l.stderr.contains("long.jsonl:1") && l.stderr.contains("128 positions"), "\(l.stderr)")

        let odd = dir.appendingPathComponent("odd")
        try FileManager.default.copyItem(at: model, to: odd)
        let config = odd.appendingPathComponent("config.json")
        let text = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "\"vocab_size\": 256", with: "\"vocab_size\": 200")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let v = try mixmerge(["train", "sft", "--model", odd.path, "--data", long.path, "--out", out.path, "--quiet"])
        #expect(v.status == 1 && (v.stderr.contains("vocab") || v.stderr.contains("shape")), "\(v.stderr)")

        let good = dir.appendingPathComponent("good.jsonl")
        try jsonl(sftRecords(letterTask(count: 8, seed: 6)), good)
        let full = try mixmerge(["train", "sft", "--model", model.path, "--data", good.path, "--out", out.path, "--quiet", "--max-steps", "1"],
                                fileSizeLimitKiB: 200)
        #expect(full.status != 0)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        for r in [r, l, v] { #expect(!FileManager.default.fileExists(atPath: out.path)) ; _ = r }
    }
}
