import ArgumentParser
import Checkpoints
import Datasets
import Foundation
import Jinja
import Models
import Tensors
import Tokenizers
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a model on CPU: supervised fine-tuning (sft) or DPO (dpo), or write the same run for TRL.",
        discussion: """
            DATA is JSON lines as `mixmerge mix` writes them (SFT: {"messages": [...]}; DPO: {"prompt", "chosen", \
            "rejected"} or the implicit-prompt form) or pre-tokenised records ({"input_ids", "labels"}; \
            {"prompt_ids", "chosen_ids", "rejected_ids"}). The finished model (weights in the model's dtype or \
            --save-dtype, config, tokenizer, log.jsonl, train_settings.json) appears at OUT only when training \
            ends; meanwhile the run lives in .OUT.mixmerge-train next to it (log.jsonl, checkpoints), and \
            --resume continues an interrupted run from its last checkpoint to the same final bytes. Settings \
            may also come from --config FILE.yml (the option names, snake_case or kebab-case); options given \
            on the command line win. --emit-trl DIR writes the equivalent TRL run instead of training. \
            See docs/train.md.
            """)

    @Argument(help: "sft or dpo.") var objective: String
    @Option(help: "The model folder to start from.") var model: String?
    @Option(help: "Training data (JSON lines).") var data: String?
    @Option(help: "Where the trained model goes (a folder that does not exist or is empty).") var out: String?
    @Option(help: "A YAML file of settings.") var config: String?
    @Option(help: "DPO: the reference model (default: the starting model).") var refModel: String?
    @Option(help: "DPO β (default 0.1).") var beta: Double?
    @Option(help: "DPO label smoothing ε (default 0).") var labelSmoothing: Double?
    @Option(help: "DPO loss: sigmoid or robust.") var dpoLoss: String?
    @Flag(help: "Train on every token, not only the assistant turns.") var wholeText = false
    @Option(help: "Longest sequence kept (default 1024).") var maxLength: Int?
    @Option(help: "DPO: longest prompt kept.") var maxPromptLength: Int?
    @Option(help: "Peak learning rate (default: 2e-5 sft, 1e-6 dpo).") var lr: Double?
    @Option(help: "AdamW weight decay (default 0).") var weightDecay: Double?
    @Option(help: "matrices (HF Trainer grouping) or all (one group, as torch).") var weightDecayOn: String?
    @Option(help: "linear, cosine or constant.") var schedule: String?
    @Option(help: "Warm-up steps.") var warmupSteps: Int?
    @Option(help: "Warm-up as a share of the steps.") var warmupRatio: Double?
    @Option(help: "Clip the global gradient norm (0: off; default 1).") var maxGradNorm: Double?
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int?
    @Option(help: "Examples (DPO: pairs) per micro-batch (default 8).") var batchSize: Int?
    @Option(help: "Passes over the data (default 1).") var epochs: Int?
    @Option(help: "Optimizer steps (overrides --epochs).") var maxSteps: Int?
    @Option(help: "Seed of the data order (default 42).") var seed: Int?
    @Flag(help: "Keep the file order.") var noShuffle = false
    @Option(help: "Save as bf16, f16 or f32 (default: the model's dtype).") var saveDtype: String?
    @Option(help: "Held-out data for eval_loss (default: held_out.*.jsonl next to a mix's train file).") var evalData: String?
    @Option(help: "Evaluate every N steps (and at the end).") var evalEvery: Int?
    @Option(help: "Checkpoint every N steps.") var saveEvery: Int?
    @Flag(help: "Continue an interrupted run from its last checkpoint.") var resume = false
    @Flag(help: "Replace OUT if it exists.") var overwrite = false
    @Option(help: "Write the equivalent TRL run into this folder instead of training.") var emitTrl: String?
    @Option(parsing: .upToNextOption, help: ArgumentHelp("The same as --emit-trl DIR.", valueName: "trl DIR")) var emit: [String] = []
    @Option(help: "LoRA rank (writes a PEFT adapter).") var loraR: Int?
    @Option(help: "Worker threads (default: all cores; results do not depend on it).") var threads: Int?
    @Flag(help: "No progress display.") var quiet = false
    /// For the resume tests: the process kills itself (SIGKILL) right after this step.
    @Option(help: .hidden) var stopAfterStep: Int?

    /// `--emit-trl DIR` or `--emit trl DIR`.
    func trlDirectory() throws -> String? {
        guard !emit.isEmpty else { return emitTrl }
        guard emit.count == 2, emit[0] == "trl", emitTrl == nil else {
            throw ValidationError("--emit takes two values, trl and a folder (--emit trl DIR), got '\(emit.joined(separator: " "))'")
        }
        return emit[1]
    }

    func settings() throws -> TrainSettings {
        guard let objective = TrainSettings.Objective(rawValue: objective) else {
            throw ValidationError("objective must be sft or dpo, got '\(objective)'")
        }
        var s = TrainSettings(objective: objective, model: model ?? "", data: data ?? "", out: out ?? "")
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError(FileManager.default.fileExists(atPath: config) ? "\(config): not readable as UTF-8 text" : "\(config): no such file")
            }
            s = try TrainSettings.load(yaml: text, file: config, base: s)
        }
        if let model { s.model = model }
        if let data { s.data = data }
        if let out { s.out = out }
        if let refModel { s.refModel = refModel }
        if let beta { s.beta = beta }
        if let labelSmoothing { s.labelSmoothing = labelSmoothing }
        if let dpoLoss {
            guard let v = DPOLoss.Variant(rawValue: dpoLoss) else { throw ValidationError("--dpo-loss must be sigmoid or robust") }
            s.dpoLoss = v
        }
        if wholeText { s.lossScope = .all }
        if let maxLength { s.maxLength = maxLength }
        if let maxPromptLength { s.maxPromptLength = maxPromptLength }
        if let lr { s.lr = lr }
        if let weightDecay { s.weightDecay = weightDecay }
        if let weightDecayOn {
            guard let v = TrainSettings.WeightDecayScope(rawValue: weightDecayOn) else {
                throw ValidationError("--weight-decay-on must be matrices or all")
            }
            s.weightDecayOn = v
        }
        if let schedule {
            guard let v = LearningRateSchedule.Kind(rawValue: schedule) else {
                throw ValidationError("--schedule must be one of \(LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.schedule = v
        }
        if let warmupSteps { s.warmupSteps = warmupSteps }
        if let warmupRatio { s.warmupRatio = warmupRatio }
        if let maxGradNorm { s.maxGradNorm = maxGradNorm }
        if let gradAccum { s.gradAccum = gradAccum }
        if let batchSize { s.batchSize = batchSize }
        if let epochs { s.epochs = epochs }
        if let maxSteps { s.maxSteps = maxSteps }
        if let seed { s.seed = seed }
        if noShuffle { s.shuffle = false }
        if let saveDtype { s.saveDtype = saveDtype }
        if let evalEvery { s.evalEvery = evalEvery }
        if let saveEvery { s.saveEvery = saveEvery }
        if let loraR { s.loraR = loraR }
        if let threads { s.threads = threads }
        if s.out.isEmpty, let emitTrl = try trlDirectory() { s.out = URL(fileURLWithPath: emitTrl).appendingPathComponent("output").path }
        for (value, option) in [(s.model, "--model"), (s.data, "--data"), (s.out, "--out")] where value.isEmpty {
            throw ValidationError("\(option) is required (on the command line or in --config)")
        }
        try s.validate()
        return s
    }

    func run() throws {
        do {
            let s = try settings()
            let evalFile = evalData ?? Self.heldOut(next: s.data)
            if let emitTrl = try trlDirectory() {
                try TRLExport.write(s, to: URL(fileURLWithPath: emitTrl), dataFiles: try DataFiles.resolve(s.data), evalFiles: evalFile.map { [$0] } ?? [],
                                    overwrite: overwrite)
                print("wrote the TRL run to \(emitTrl) (launch: \(emitTrl)/launch.sh)")
                return
            }
            guard s.loraR == nil else {
                throw ValidationError("--lora-r: LoRA training runs through --emit-trl for now; mixmerge's own trainer does full fine-tuning only")
            }
            try TrainingRun(settings: s, evalFile: evalFile, resume: resume, overwrite: overwrite, quiet: quiet, stopAfterStep: stopAfterStep).run()
        } catch let e as ExitCode { throw e } catch { throw fail(error) }
    }

    /// `held_out.<kind>.jsonl` next to a mix's `train.<kind>.jsonl`, when it exists.
    static func heldOut(next data: String) -> String? {
        let url = URL(fileURLWithPath: data)
        let name = url.lastPathComponent
        guard name.hasPrefix("train.") else { return nil }
        let candidate = url.deletingLastPathComponent().appendingPathComponent("held_out." + name.dropFirst("train.".count)).path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }
}

/// One `mixmerge train` run: data → examples → trainer loop with logging and checkpoints → the
/// finished model folder.
struct TrainingRun {
    let settings: TrainSettings
    let evalFile: String?
    let resume: Bool
    let overwrite: Bool
    let quiet: Bool
    let stopAfterStep: Int?

    var out: URL { URL(fileURLWithPath: settings.out).standardizedFileURL }
    var work: URL { out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).mixmerge-train") }

    func run() throws {
        let s = settings
        let fm = FileManager.default
        try OutputFolder.check(out, overwrite: overwrite)
        let threads = s.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let folder = URL(fileURLWithPath: s.model)
        let (model, params) = try TrainableModel.load(folder: folder, threads: threads)
        let format = try PromptFormat(folder: folder)
        let tokenizerSize = format.tokenizer.vocabSize
        guard tokenizerSize <= model.config.vocabSize else {
            throw TrainerError("\(folder.path): the tokenizer has \(tokenizerSize) tokens but the model's vocabulary is \(model.config.vocabSize) (tokenizer and weights do not match)")
        }
        var encoder = ExampleEncoder(format: format, scope: s.lossScope, maxLength: s.effectiveMaxLength, maxPromptLength: s.maxPromptLength)
        encoder.maxLength = s.effectiveMaxLength
        let (sft, pairs) = try examples(URL(fileURLWithPath: s.data), encoder, model)
        let (evalSFT, evalPairs) = try evalFile.map { try examples(URL(fileURLWithPath: $0), encoder, model) } ?? ([], [])
        var reference: (TrainableModel, FloatTensors)?
        if s.objective == .dpo, let ref = s.refModel {
            reference = try TrainableModel.load(folder: URL(fileURLWithPath: ref), threads: threads)
            guard reference!.0.config.vocabSize == model.config.vocabSize else {
                throw TrainerError("\(ref): the reference model's vocabulary (\(reference!.0.config.vocabSize)) differs from the model's (\(model.config.vocabSize))")
            }
        }
        var config = TrainerConfig(objective: s.objective == .sft ? .sft : .dpo, lr: s.lr)
        config.weightDecay = s.weightDecay
        config.decayAll = s.weightDecayOn == .all
        config.schedule = s.schedule
        config.warmupSteps = s.warmupSteps
        config.warmupRatio = s.warmupRatio
        config.maxGradNorm = s.maxGradNorm
        config.gradAccum = s.gradAccum
        config.batchSize = s.batchSize
        config.epochs = s.epochs
        config.maxSteps = s.maxSteps
        config.seed = UInt64(bitPattern: Int64(s.seed))
        config.shuffle = s.shuffle
        config.beta = s.beta
        config.labelSmoothing = s.labelSmoothing
        config.dpoVariant = s.dpoLoss
        let trainer = try Trainer(model: model, parameters: params, config: config, sft: sft, pairs: pairs, referenceModel: reference)
        let evalReference = config.objective == .dpo && !evalPairs.isEmpty
            ? try Trainer.referenceLogprobs(reference?.0 ?? model, reference?.1 ?? params, evalPairs, batchSize: s.batchSize) : []

        // The work folder: a stable name so that --resume finds it.
        var comparable = s
        comparable.threads = nil  // the thread count does not change the result
        let settingsJSON = try TRLExport.settingsJSON(comparable)
        let logURL = work.appendingPathComponent("log.jsonl")
        if fm.fileExists(atPath: work.path) {
            guard resume else {
                throw TrainerError("\(work.path) holds an interrupted run of \(out.path): continue it with --resume, or remove that folder")
            }
            let previous = (try? String(contentsOf: work.appendingPathComponent("train_settings.json"), encoding: .utf8)) ?? ""
            guard previous == settingsJSON else {
                throw TrainerError("\(work.path): the interrupted run had other settings (see its train_settings.json); remove the folder to start anew")
            }
            if let latest = Self.checkpoints(in: work).last {
                try trainer.loadState(from: work.appendingPathComponent("checkpoint-\(latest)"))
            }
            // Keep the log of the steps the checkpoint covers.
            let lines = ((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").split(separator: "\n").filter { line in
                guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                      let step = o["step"] as? Int else { return false }
                return step <= trainer.step
            }
            try Data(lines.map { $0 + "\n" }.joined().utf8).write(to: logURL)
        } else {
            try fm.createDirectory(at: work, withIntermediateDirectories: true)
            try Data(settingsJSON.utf8).write(to: work.appendingPathComponent("train_settings.json"))
            fm.createFile(atPath: logURL.path, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logURL.path) else { throw TrainerError("\(logURL.path): cannot write the log") }
        defer { try? log.close() }
        log.seekToEndOfFile()
        func write(_ pairs: [(String, Double)], step: Int) {
            let fields = [("step", "\(step)"), ("epoch", String(format: "%.4g", Double(step) / Double(trainer.stepsPerEpoch)))]
                + pairs.map { ($0.0, $0.1.isFinite ? "\($0.1)" : "null") }
            log.write(Data(("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n").utf8))
        }
        func evaluate() throws -> [(String, Double)] {
            if !evalSFT.isEmpty { return [("eval_loss", try trainer.evaluate(sft: evalSFT))] }
            if !evalPairs.isEmpty {
                let r = try trainer.evaluate(pairs: evalPairs, reference: evalReference)
                return [("eval_loss", r.loss), ("eval_rewards/accuracies", r.accuracy),
                        ("eval_rewards/margins", r.margins.reduce(0, +) / Double(max(1, r.margins.count)))]
            }
            return []
        }
        if !quiet {
            let n = s.objective == .sft ? sft.count : pairs.count
            FileHandle.standardError.write(Data(("train \(s.objective.rawValue): \(model.parameterCount) parameters, \(n) "
                + "\(s.objective == .sft ? "examples" : "pairs"), \(trainer.totalSteps) steps; log: \(logURL.path)\n").utf8))
        }
        if trainer.step == 0, !(evalSFT.isEmpty && evalPairs.isEmpty) { write(try evaluate(), step: 0) }
        let start = Date()
        let firstStep = trainer.step
        let terminal = isatty(2) != 0
        while trainer.step < trainer.totalSteps {
            var metrics = try trainer.runStep()
            guard metrics.allSatisfy({ $0.1.isFinite || $0.0.hasPrefix("rewards") }) else {
                throw TrainerError("step \(trainer.step): the loss or gradient norm is not finite (lower --lr?)")
            }
            if let every = s.evalEvery, trainer.step % every == 0 || trainer.step == trainer.totalSteps {
                metrics += try evaluate()
            }
            write(metrics, step: trainer.step)
            if let every = s.saveEvery, trainer.step % every == 0, trainer.step < trainer.totalSteps {
                let old = Self.checkpoints(in: work)
                try trainer.saveState(to: work.appendingPathComponent("checkpoint-\(trainer.step)"))
                for o in old { try? fm.removeItem(at: work.appendingPathComponent("checkpoint-\(o)")) }
            }
            if trainer.step == stopAfterStep {
                try log.synchronize()
                kill(getpid(), SIGKILL)
            }
            if !quiet {
                let done = trainer.step - firstStep
                let rate = Date().timeIntervalSince(start) / Double(max(1, done))
                let loss = metrics.first { $0.0 == "loss" }?.1 ?? .nan
                let line = String(format: "step %d/%d  loss %.4f  %.2f s/step  eta %.0f s", trainer.step, trainer.totalSteps, loss,
                                  rate, rate * Double(trainer.totalSteps - trainer.step))
                // A terminal gets one line rewritten in place; a log file a line per tenth of the run.
                if terminal {
                    FileHandle.standardError.write(Data(("\r" + line).utf8))
                } else if trainer.step == trainer.totalSteps || trainer.step % max(1, trainer.totalSteps / 10) == 0 {
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
            }
        }
        if s.evalEvery == nil, !(evalSFT.isEmpty && evalPairs.isEmpty) { write(try evaluate(), step: trainer.step) }
        if !quiet && terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        try log.synchronize()

        // The finished folder, built under a temporary name and renamed into place.
        let temp = try OutputFolder.begin(out)
        do {
            try ModelFolderWriter.write(model: model, parameters: trainer.parameters, saveDtype: s.saveDtype, from: folder, into: temp, as: out)
            for name in ["log.jsonl", "train_settings.json"] {
                try fm.copyItem(at: work.appendingPathComponent(name), to: temp.appendingPathComponent(name))
            }
            if overwrite { try? fm.removeItem(at: out) }
            try OutputFolder.commit(temp, to: out)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        try? fm.removeItem(at: work)
        if !quiet { print("wrote \(out.path)") }
    }

    /// Every record of a data source — a JSONL/JSON/CSV/Parquet file, a folder of shards or a glob
    /// (`RecordFile(source:)`, the readers `mix` uses) — with its `file:line` place.
    static func records(_ source: String) throws -> [(place: String, value: Value)] {
        let file = try RecordFile(source: source)
        var buffer: [UInt8] = []
        return try file.spans.indices.map { i in
            let place = file.location(i)
            let text = try file.withRecordBytes(i, buffer: &buffer) { String(decoding: $0, as: UTF8.self) }
            do { return (place, try Value.parseJSON(text)) } catch { throw TrainerError("\(place): \(error)") }
        }
    }

    /// Complete checkpoints in the work folder, by step.
    static func checkpoints(in work: URL) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: work.path)) ?? []).compactMap { name in
            name.hasPrefix("checkpoint-") ? Int(name.dropFirst("checkpoint-".count)) : nil
        }.sorted()
    }

    /// The examples of a data file, each checked against the model's positions.
    func examples(_ url: URL, _ encoder: ExampleEncoder, _ model: TrainableModel) throws -> ([SFTExample], [PreferenceExample]) {
        let records = try Self.records(url.path)
        guard !records.isEmpty else { throw TrainerError("\(url.path): no records") }
        let limit = model.config.maxPositions
        if settings.objective == .sft {
            let out = try records.map { try encoder.sft($0.value, at: $0.place) }
            for (e, r) in zip(out, records) where e.ids.count > limit {
                throw TrainerError("\(r.place): \(e.ids.count) tokens exceed the model's \(limit) positions (lower --max-length)")
            }
            return (out, [])
        }
        let out = try records.map { try encoder.preference($0.value, at: $0.place) }
        for (e, r) in zip(out, records) where e.prompt.count + max(e.chosen.count, e.rejected.count) > limit {
            throw TrainerError("\(r.place): the pair is longer than the model's \(limit) positions (lower --max-length)")
        }
        return ([], out)
    }
}

/// Writes a trained model as a Hugging Face folder: weights in each tensor's stored dtype (or one
/// `saveDtype`), and the source folder's config, generation config and tokenizer files.
enum ModelFolderWriter {
    static func write(model: TrainableModel, parameters: FloatTensors, saveDtype: String?, from source: URL, into temp: URL, as out: URL) throws {
        let forced: DType? = try saveDtype.map { name in
            switch name.lowercased() {
            case "bf16", "bfloat16": return .bf16
            case "f16", "fp16", "float16": return .f16
            case "f32", "fp32", "float32": return .f32
            default: throw TrainerError("--save-dtype must be bf16, f16 or f32, got '\(name)'")
            }
        }
        let dtypes = model.storedDTypes.map { forced ?? $0 }
        let planned = model.names.indices.map { PlannedTensor(name: model.names[$0], dtype: dtypes[$0], shape: model.shapes[$0]) }
        let writer = try ShardedWriter(directory: temp, tensors: planned, maxShardSize: 5 << 30)
        for i in model.names.indices {
            let n = parameters.counts[i]
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(1, n * dtypes[i].size), alignment: 16)
            defer { bytes.deallocate() }
            Convert.narrow(parameters.pointer(i), count: n, to: dtypes[i], into: bytes)
            try writer.write(model.names[i], byteOffset: 0, bytes: bytes, count: n * dtypes[i].size)
        }
        try writer.finish()
        let fm = FileManager.default
        let skip: Set<String> = ["model.safetensors", "model.safetensors.index.json"]
        for name in (try? fm.contentsOfDirectory(atPath: source.path)) ?? [] where !skip.contains(name) && !name.hasSuffix(".safetensors") {
            let isJSONOrText = name.hasSuffix(".json") || name.hasSuffix(".jinja") || name.hasSuffix(".model") || name.hasSuffix(".txt")
            guard isJSONOrText, name != "log.jsonl", name != "train_settings.json" else { continue }
            var text = try Data(contentsOf: source.appendingPathComponent(name))
            if name == "config.json", let forced, var s = String(data: text, encoding: .utf8) {
                let spelled = forced == .bf16 ? "bfloat16" : forced == .f16 ? "float16" : "float32"
                for key in ["torch_dtype", "dtype"] {
                    s = s.replacingOccurrences(of: "\"\(key)\": \"bfloat16\"", with: "\"\(key)\": \"\(spelled)\"")
                        .replacingOccurrences(of: "\"\(key)\": \"float16\"", with: "\"\(key)\": \"\(spelled)\"")
                        .replacingOccurrences(of: "\"\(key)\": \"float32\"", with: "\"\(key)\": \"\(spelled)\"")
                }
                text = Data(s.utf8)
            }
            try OutputFolder.write(text, name, in: temp, of: out)
        }
    }
}
