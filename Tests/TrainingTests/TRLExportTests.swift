import Checkpoints
import Foundation
import TestScratch
import Testing

@testable import Training

/// Settings with a value other than the default for almost every key, as a file would give them.
private let everyKey = TrainSettings(
    objective: .dpo, model: "models/base", data: "mixes/train.dpo.jsonl", out: "runs/dpo", refModel: "models/ref",
    beta: 0.25, labelSmoothing: 0.1, dpoLoss: .robust, lossScope: .all, maxLength: 2048, maxPromptLength: 512,
    lr: 2e-5, weightDecay: 0.01, weightDecayOn: .all, schedule: .cosine, warmupSteps: 0, warmupRatio: 0.1,
    maxGradNorm: 0.5, gradAccum: 4, batchSize: 2, epochs: 3, maxSteps: 100, seed: 7, shuffle: false, saveDtype: "bf16",
    loraR: 16, loraAlpha: 32, loraDropout: 0.05, loraTargets: ["q_proj", "v_proj"], mergeLora: true, evalEvery: 50,
    saveEvery: 25, logEvery: 5, threads: 2)

/// `everyKey` as YAML, every key spelled with `separator` between its words.
private func everyKeyYAML(_ separator: String) -> String {
    let lines = [
        "objective: dpo", "model: models/base", "data: mixes/train.dpo.jsonl", "out: runs/dpo", "ref_model: models/ref",
        "beta: 0.25", "label_smoothing: 0.1", "dpo_loss: robust", "loss_scope: all", "max_length: 2048",
        "max_prompt_length: 512", "lr: 2e-5", "weight_decay: 0.01", "weight_decay_on: all", "schedule: cosine",
        "warmup_ratio: 0.1", "max_grad_norm: 0.5", "grad_accum: 4", "batch_size: 2", "epochs: 3", "max_steps: 100",
        "seed: 7", "shuffle: false", "save_dtype: bf16", "lora_r: 16", "lora_alpha: 32", "lora_dropout: 0.05",
        "lora_targets: [q_proj, v_proj]", "merge_lora: true", "eval_every: 50", "save_every: 25", "log_every: 5",
        "threads: 2",
    ]
    return lines.map { line in
        let colon = line.firstIndex(of: ":") ?? line.endIndex
        return line[..<colon].replacingOccurrences(of: "_", with: separator) + line[colon...]
    }.joined(separator: "\n")
}

private func sft(_ edit: (inout TrainSettings) -> Void = { _ in }) -> TrainSettings {
    var s = TrainSettings(objective: .sft, model: "/m", data: "/d.jsonl", out: "/o")
    edit(&s)
    return s
}

private func message(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
}

private func read(_ dir: URL, _ name: String) throws -> String {
    try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
}

@Suite("Train settings: YAML, validation and the TRL export")
struct TRLExportTests {
    // MARK: - YAML

    @Test("a YAML file with snake_case or kebab-case keys gives the settings built directly", arguments: ["_", "-"])
    func yamlSpellings(_ separator: String) throws {
        let s = try TrainSettings.load(yaml: everyKeyYAML(separator), file: "train.yml")
        #expect(s == everyKey)
    }

    @Test("absent keys take TRL's defaults, the learning rate by objective")
    func defaults() throws {
        let s = try TrainSettings.load(yaml: "objective: sft\nmodel: m\ndata: d\nout: o\n", file: "a.yml")
        #expect(s == TrainSettings(objective: .sft, model: "m", data: "d", out: "o"))
        #expect(s.lr == 2e-5 && s.batchSize == 8 && s.maxGradNorm == 1 && s.loraTargets == ["q_proj", "k_proj", "v_proj", "o_proj"])
        let d = try TrainSettings.load(yaml: "objective: dpo\nmodel: m\ndata: d\nout: o\n", file: "a.yml")
        #expect(d.lr == 1e-6 && d.beta == 0.1 && d.dpoLoss == .sigmoid)
    }

    @Test("an unknown key names itself and its file and line")
    func unknownKey() {
        let text = "objective: sft\nmodel: m\nmax_lenght: 10\ndata: d\nout: o\n"
        let m = message { _ = try TrainSettings.load(yaml: text, file: "train.yml") }
        #expect(m?.hasPrefix("train.yml:3: unknown key 'max_lenght'") == true, "\(m ?? "no error")")
    }

    @Test("a value of the wrong type names the key as written, and the line", arguments: [
        ("batch-size: eight", "train.yml:5: batch-size: expected an integer, got 'eight'"),
        ("lr: fast", "train.yml:5: lr: expected a number, got 'fast'"),
        ("max_length: \"512\"", "train.yml:5: max_length: expected an integer, got '512'"),
        ("shuffle: sometimes", "train.yml:5: shuffle: expected true or false"),
        ("schedule: exponential", "train.yml:5: schedule: expected one of linear, cosine, constant"),
        ("lora-targets: {q: 1}", "train.yml:5: lora-targets: expected a non-empty string, got a mapping"),
    ])
    func wrongType(_ line: String, _ expected: String) {
        let text = "objective: sft\nmodel: m\ndata: d\nout: o\n\(line)\n"
        let m = message { _ = try TrainSettings.load(yaml: text, file: "train.yml") }
        #expect(m?.hasPrefix(expected) == true, "\(m ?? "no error")")
    }

    @Test("one key in both spellings, a missing required key and a non-mapping are errors")
    func structure() {
        let twice = message { _ = try TrainSettings.load(yaml: "max_length: 1\nmax-length: 2\n", file: "t.yml") }
        #expect(twice == "t.yml:2: 'max-length' is given twice (first as 'max_length' on line 1)")
        let missing = message { _ = try TrainSettings.load(yaml: "objective: sft\nmodel: m\ndata: d\n", file: "t.yml") }
        #expect(missing == "t.yml: out: missing (required)")
        let list = message { _ = try TrainSettings.load(yaml: "- a\n- b\n", file: "t.yml") }
        #expect(list?.hasPrefix("t.yml:1: expected a mapping") == true)
        let empty = message { _ = try TrainSettings.load(yaml: "", file: "t.yml") }
        #expect(empty == "t.yml: the file is empty")
    }

    @Test("over a base, keys replace its values, null clears an optional, and the objective must agree")
    func overBase() throws {
        let base = sft { $0.maxLength = 4096; $0.threads = 1 }
        let s = try TrainSettings.load(yaml: "lr: 1e-4\nthreads: null\nlora-targets: q_proj, k_proj\n", file: "t.yml", base: base)
        #expect(s == sft { $0.maxLength = 4096; $0.lr = 1e-4; $0.loraTargets = ["q_proj", "k_proj"] })
        let m = message { _ = try TrainSettings.load(yaml: "\nobjective: dpo\n", file: "t.yml", base: base) }
        #expect(m == "t.yml:2: objective: the file is for 'dpo' but the command trains 'sft'")
    }

    @Test("settings.json reads back as a settings file", arguments: [everyKey, sft()])
    func jsonRoundTrip(_ s: TrainSettings) throws {
        let json = try TRLExport.settingsJSON(s)
        #expect(try TrainSettings.load(yaml: json, file: "settings.json") == s)
        #expect(try JSONDecoder().decode(TrainSettings.self, from: Data(json.utf8)) == s)
    }

    // MARK: - Validation

    @Test("out-of-range settings fail validation with one line naming the option", arguments: [
        (sft { s in s.lr = 0 }, "--lr must be greater than 0 (got 0.0)"),
        (sft { s in s.beta = -1 }, "--beta must be greater than 0 (got -1.0)"),
        (sft { s in s.labelSmoothing = 0.5 }, "--label-smoothing must be in [0, 0.5) (got 0.5)"),
        (sft { s in s.gradAccum = 0 }, "--grad-accum must be at least 1 (got 0)"),
        (sft { s in s.batchSize = 0 }, "--batch-size must be at least 1 (got 0)"),
        (sft { s in s.epochs = 0 }, "--epochs must be at least 1 (got 0)"),
        (sft { s in s.maxLength = 1 }, "--max-length must be at least 2 (got 1)"),
        (sft { s in s.warmupRatio = 1 }, "--warmup-ratio must be in [0, 1) (got 1.0)"),
        (sft { s in s.warmupRatio = 0.1; s.warmupSteps = 10 }, "--warmup-ratio and --warmup-steps are both given: give one"),
        (sft { s in s.saveDtype = "fp8" }, "--save-dtype must be one of bf16, f16, f32 (got 'fp8')"),
        (sft { s in s.mergeLora = true }, "--merge-lora needs --lora-r (there is no adapter to merge in full fine-tuning)"),
        (sft { s in s.loraR = 8; s.loraDropout = 1 }, "--lora-dropout must be in [0, 1) (got 1.0)"),
        (sft { s in s.refModel = "/r" }, "--ref-model is for dpo only (train sft has no reference model)"),
        (sft { s in s.threads = 0 }, "--threads must be at least 1 (got 0)"),
    ])
    func validation(_ s: TrainSettings, _ expected: String) {
        #expect(message { try s.validate() } == expected)
    }

    @Test("the prompt limit must leave room within the length limit")
    func promptLimit() {
        var s = everyKey
        s.maxPromptLength = 2048
        #expect(message { try s.validate() } == "--max-prompt-length (2048) must be less than --max-length (2048)")
        s.maxLength = nil
        s.maxPromptLength = 1000
        #expect(message { try s.validate() } == nil)
        #expect(message { try everyKey.validate() } == nil)
    }

    // MARK: - Export

    @Test("an SFT export writes the four files: SFTTrainer, assistant-only loss, an executable launcher")
    func sftExport() throws {
        let dir = TestScratch.folder("sftExport").appendingPathComponent("trl")
        let written = try TRLExport.write(sft { $0.maxLength = 512; $0.threads = 2 }, to: dir, dataFiles: ["/d/a.jsonl", "/d/b.jsonl"])
        #expect(written == ["train.py", "settings.json", "launch.sh", "README.md"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == Set(written))
        let py = try read(dir, "train.py")
        #expect(py.contains("from trl import SFTConfig, SFTTrainer") && py.contains("class Trainer(SFTTrainer):"))
        #expect(!py.contains("DPO"))
        #expect(py.contains("    assistant_only_loss=True,") && py.contains("    max_length=512,"))
        #expect(py.contains("    learning_rate=2e-05,") && py.contains("    lr_scheduler_type=\"linear\","))
        #expect(py.contains("DATA_FILES = [\"/d/a.jsonl\", \"/d/b.jsonl\"]") && py.contains("load_dataset(\"json\", data_files=DATA_FILES"))
        #expect(py.contains("AutoTokenizer.from_pretrained(MODEL)") && py.contains("peft_config = None"))
        #expect(py.contains("torch.set_num_threads(2)"))
        let launch = try read(dir, "launch.sh")
        #expect(launch.contains("accelerate launch") && launch.contains("train.py") && launch.contains("OMP_NUM_THREADS=2"))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("launch.sh").path)[.posixPermissions] as? Int)
        #expect(mode & 0o111 == 0o111)
        #expect(try read(dir, "README.md").contains("| `--grad-accum` | `gradient_accumulation_steps=1` |"))
        #expect(try TrainSettings.load(yaml: read(dir, "settings.json"), file: "settings.json") == sft { $0.maxLength = 512; $0.threads = 2 })
        let parent = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
        #expect(parent == ["trl"], "no temporary folder is left beside the export")
    }

    @Test("a DPO + LoRA export: DPOTrainer, beta, the reference model, LoraConfig with the given r, the prompt limit")
    func dpoExport() throws {
        let dir = TestScratch.folder("dpoExport").appendingPathComponent("trl")
        try TRLExport.write(everyKey, to: dir, dataFiles: ["/d/train.dpo.jsonl"], evalFiles: ["/d/held_out.dpo.jsonl"])
        let py = try read(dir, "train.py")
        #expect(py.contains("from trl import DPOConfig, DPOTrainer") && py.contains("class Trainer(DPOTrainer):"))
        #expect(py.contains("    beta=0.25,") && py.contains("    loss_type=[\"robust\"],") && py.contains("    label_smoothing=0.1,"))
        #expect(py.contains("peft_config = LoraConfig(\n    r=16,") && py.contains("    lora_alpha=32,"))
        #expect(py.contains("    target_modules=[\"q_proj\", \"v_proj\"],"))
        #expect(py.contains("ref_model=ref_model,") && py.contains("REF_MODEL = \"/"))
        #expect(py.contains("MAX_PROMPT_LENGTH = 512") && py.contains("def _prepare_dataset"))
        #expect(py.contains("    warmup_steps=0.1,") && py.contains("    lr_scheduler_type=\"cosine\","))
        #expect(py.contains("    train_sampling_strategy=\"sequential\",") && py.contains("    eval_steps=50,"))
        #expect(py.contains("merge_and_unload()") && py.contains("SAVE_DTYPE = torch.bfloat16"))
        #expect(py.contains("    disable_dropout=False,"))
        #expect(!py.contains("assistant_only_loss"))
    }

    @Test("DPO defaults: beta=0.1 and sigmoid; label smoothing with sigmoid becomes the exact weighted pair")
    func dpoLosses() throws {
        let plain = try TRLExport.script(TrainSettings(objective: .dpo, model: "/m", data: "/d", out: "/o"), dataFiles: ["/d.jsonl"])
        #expect(plain.contains("    beta=0.1,") && plain.contains("    loss_type=[\"sigmoid\"],") && !plain.contains("loss_weights"))
        #expect(plain.contains("REF_MODEL = None") && !plain.contains("_prepare_dataset"))
        let smoothed = try TRLExport.script(
            TrainSettings(objective: .dpo, model: "/m", data: "/d", out: "/o", labelSmoothing: 0.25), dataFiles: ["/d.jsonl"])
        #expect(smoothed.contains("    loss_type=[\"sigmoid\", \"robust\"],") && smoothed.contains("    loss_weights=[1.5, -0.5],"))
    }

    @Test("constant with warm-up is transformers' constant_with_warmup; parquet data loads as parquet")
    func schedulerAndLoader() throws {
        let s = sft { $0.schedule = .constant; $0.warmupSteps = 10 }
        let py = try TRLExport.script(s, dataFiles: ["/d/part-0.parquet"])
        #expect(py.contains("    lr_scheduler_type=\"constant_with_warmup\",") && py.contains("    warmup_steps=10,"))
        #expect(py.contains("load_dataset(\"parquet\", data_files=DATA_FILES"))
        #expect(try TRLExport.script(sft { $0.schedule = .constant }, dataFiles: ["/a.jsonl"]).contains("lr_scheduler_type=\"constant\","))
        let mixed = message { _ = try TRLExport.script(sft(), dataFiles: ["/a.jsonl", "/b.parquet"]) }
        #expect(mixed == "/b.parquet: datasets loads one kind of file at a time, and /a.jsonl is json")
    }

    @Test("paths with quotes and backslashes are valid Python string literals")
    func quoting() {
        #expect(Python.string("/a \"b\"\\c\n") == "\"/a \\\"b\\\"\\\\c\\n\"")
        #expect(Python.string("é\u{1}") == "\"é\\x01\"")
    }

    @Test("an existing non-empty folder is refused; with overwrite it is replaced whole")
    func existingFolder() throws {
        let dir = TestScratch.folder("existingFolder").appendingPathComponent("trl")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: dir.appendingPathComponent("old.txt"))
        let refused = message { try TRLExport.write(sft(), to: dir, dataFiles: ["/d.jsonl"]) }
        #expect(refused?.contains("exists and is not empty") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["old.txt"])
        try TRLExport.write(sft(), to: dir, dataFiles: ["/d.jsonl"], overwrite: true)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == Set(TRLExport.files))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path) == ["trl"])
    }

    /// Set `MIXMERGE_TRL_PYTHON` to a Python with trl, transformers and peft to run this one.
    @Test("tools/check_trl_export.py finds every emitted keyword in the installed TRL",
          .enabled(if: ProcessInfo.processInfo.environment["MIXMERGE_TRL_PYTHON"] != nil))
    func installedTRL() throws {
        let python = try #require(ProcessInfo.processInfo.environment["MIXMERGE_TRL_PYTHON"])
        let root = TestScratch.folder("installedTRL")
        let exports: [(String, TrainSettings)] = [
            ("sft", sft { $0.weightDecay = 0.01; $0.saveEvery = 10 }),
            ("dpo-lora", everyKey),
            ("dpo-lora-smoothed", TrainSettings(objective: .dpo, model: "/m", data: "/d", out: "/o", labelSmoothing: 0.1,
                                                schedule: .constant, warmupSteps: 3, loraR: 4)),
        ]
        for (name, s) in exports {
            try TRLExport.write(s, to: root.appendingPathComponent(name), dataFiles: ["/d/train.jsonl"],
                                evalFiles: s.evalEvery == nil ? [] : ["/d/held_out.jsonl"])
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repositoryRoot.appendingPathComponent("tools/check_trl_export.py").path]
            + exports.map { root.appendingPathComponent($0.0).path }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print(output)
        #expect(process.terminationStatus == 0, "\(output)")
    }

    /// Set `MIXMERGE_TRL_PYTHON` (as above; its folder must also hold `accelerate`) to run this one: one or two
    /// optimizer steps of each script on the tiny Llama fixture, given a chat template with `{% generation %}`
    /// markers (about 30 s).
    @Test("the emitted scripts train and save with the installed TRL",
          .enabled(if: ProcessInfo.processInfo.environment["MIXMERGE_TRL_PYTHON"] != nil))
    func smokeRun() throws {
        let python = try #require(ProcessInfo.processInfo.environment["MIXMERGE_TRL_PYTHON"])
        let fm = FileManager.default
        let root = TestScratch.folder("smokeRun")
        let model = root.appendingPathComponent("model")
        try fm.copyItem(at: fixtures.appendingPathComponent("models/llama/base"), to: model)
        let configURL = model.appendingPathComponent("tokenizer_config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
        config["chat_template"] = "{% for m in messages %}{% if m['role'] == 'assistant' %}<|assistant|>{% generation %}"
            + "{{ m['content'] }}{{ eos_token }}{% endgeneration %}{% else %}<|{{ m['role'] }}|>{{ m['content'] }}{% endif %}"
            + "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        func turn(_ role: String, _ text: String) -> [String: String] { ["role": role, "content": text] }
        func jsonl(_ rows: [[String: Any]]) throws -> Data {
            Data(try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n").utf8)
        }
        let sftRows = (0..<8).map { i in ["messages": [turn("user", "hi \(i)"), turn("assistant", "hello \(i)")]] }
        let dpoRows = (0..<8).map { i in
            ["prompt": [turn("user", "say \(i) twice")], "chosen": [turn("assistant", "\(i) \(i)")], "rejected": [turn("assistant", "no")]]
        }
        try jsonl(sftRows).write(to: root.appendingPathComponent("sft.jsonl"))
        try jsonl(dpoRows).write(to: root.appendingPathComponent("dpo.jsonl"))
        let runs: [(String, TrainSettings, [String], String)] = [
            ("sft", TrainSettings(objective: .sft, model: model.path, data: "sft.jsonl", out: root.appendingPathComponent("out-sft").path,
                                  maxLength: 64, weightDecay: 0.01, batchSize: 2, maxSteps: 2, saveDtype: "bf16", threads: 2),
             [], "model.safetensors"),
            ("dpo", TrainSettings(objective: .dpo, model: model.path, data: "dpo.jsonl", out: root.appendingPathComponent("out-dpo").path,
                                  labelSmoothing: 0.1, maxLength: 32, maxPromptLength: 8, weightDecayOn: .all, schedule: .constant,
                                  warmupRatio: 0.5, batchSize: 2, maxSteps: 2, loraR: 4, loraTargets: ["q_proj", "v_proj"],
                                  mergeLora: true, evalEvery: 1, threads: 2),
             [root.appendingPathComponent("dpo.jsonl").path], "model.safetensors"),
            ("dpo-adapter", TrainSettings(objective: .dpo, model: model.path, data: "dpo.jsonl", out: root.appendingPathComponent("out-adapter").path,
                                          dpoLoss: .robust, batchSize: 4, maxSteps: 1, loraR: 2, loraDropout: 0.1, threads: 2),
             [], "adapter_model.safetensors"),
        ]
        for (name, s, evalFiles, expected) in runs {
            let dir = root.appendingPathComponent("trl-\(name)")
            let data = root.appendingPathComponent(s.data).path
            try TRLExport.write(s, to: dir, dataFiles: [data], evalFiles: evalFiles)
            // One run goes through launch.sh (accelerate launch, from the Python's bin folder).
            let process = Process()
            if name == "dpo" {
                process.executableURL = dir.appendingPathComponent("launch.sh")
                var environment = ProcessInfo.processInfo.environment
                let bin = URL(fileURLWithPath: python).deletingLastPathComponent().path
                environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
                process.environment = environment
            } else {
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = [dir.appendingPathComponent("train.py").path]
            }
            process.currentDirectoryURL = root
            let log = root.appendingPathComponent("\(name).log")
            fm.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            process.waitUntilExit()
            try handle.close()
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            print("== \(name)\n" + output.split(separator: "\n").filter { $0.contains("{'") || $0.lowercased().contains("warn") }.joined(separator: "\n"))
            #expect(process.terminationStatus == 0, "\(name): \(output.suffix(3000))")
            #expect(fm.fileExists(atPath: URL(fileURLWithPath: s.out).appendingPathComponent(expected).path), "\(name)")
        }
    }

    @Test("invalid settings write nothing")
    func invalidWritesNothing() {
        let dir = TestScratch.folder("invalidWritesNothing").appendingPathComponent("trl")
        #expect(message { try TRLExport.write(sft { $0.lr = -1 }, to: dir, dataFiles: ["/d.jsonl"]) } == "--lr must be greater than 0 (got -1.0)")
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }
}
