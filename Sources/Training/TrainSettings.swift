import Foundation
import Yams

/// Every setting of `mixmerge train sft|dpo`: what the command line, a YAML settings file and the TRL
/// export (`TRLExport`) share.
///
/// Names: each setting has one name, snake_case in YAML and JSON (`max_length`) and kebab-case on the
/// command line (`--max-length`); a YAML file may use either spelling (`CodingKeys`). Defaults follow
/// TRL's `SFTConfig` / `DPOConfig` where TRL has the setting.
public struct TrainSettings: Sendable, Codable, Equatable {
    /// What is trained: next-token loss on conversations, or DPO on preference pairs.
    public enum Objective: String, Sendable, Codable, CaseIterable {
        case sft, dpo

        /// TRL's default learning rate for the objective: `SFTConfig.learning_rate` 2e-5 and
        /// `DPOConfig.learning_rate` 1e-6 (TRL 1.16; transformers' own default, 5e-5, is for neither).
        public var defaultLearningRate: Double {
            switch self {
            case .sft: return 2e-5
            case .dpo: return 1e-6
            }
        }
    }

    /// Which parameters AdamW's weight decay applies to.
    public enum WeightDecayScope: String, Sendable, Codable, CaseIterable {
        /// Parameters with two or more dimensions (projections, embeddings); not norms' weights or biases.
        case matrices
        /// Every parameter.
        case all
    }

    /// The values `saveDtype` may take.
    public static let saveDtypes = ["bf16", "f16", "f32"]
    /// LoRA's default target modules: the attention projections.
    public static let defaultLoraTargets = ["q_proj", "k_proj", "v_proj", "o_proj"]

    public var objective: Objective
    /// The model folder trained (Hugging Face layout: config.json, safetensors, tokenizer files).
    public var model: String
    /// The training data: a file, folder or glob (what `DataFiles.resolve` takes).
    public var data: String
    /// The folder the trained model (or LoRA adapter) is written to.
    public var out: String
    /// DPO's reference model folder; nil = the model trained, as it was at the start (with LoRA: the
    /// model with its adapter disabled).
    public var refModel: String?
    /// DPO's β.
    public var beta: Double
    /// DPO's label smoothing ε (conservative DPO with `sigmoid`, the flip probability with `robust`).
    public var labelSmoothing: Double
    public var dpoLoss: DPOLoss.Variant
    /// Which tokens of an SFT conversation count (DPO counts the completions' tokens).
    public var lossScope: LossScope
    /// Longest sequence kept (prompt + completion); nil = `defaultMaxLength`.
    public var maxLength: Int?
    /// DPO: longest prompt kept (its start is cut first); nil = no limit of its own.
    public var maxPromptLength: Int?
    /// Peak learning rate; defaults to the objective's `defaultLearningRate`.
    public var lr: Double
    public var weightDecay: Double
    public var weightDecayOn: WeightDecayScope
    public var schedule: LearningRateSchedule.Kind
    public var warmupSteps: Int
    /// Warm-up as a share of the total optimizer steps (⌈ratio · total⌉ steps), instead of `warmupSteps`.
    public var warmupRatio: Double?
    /// Gradient clipping by global 2-norm; 0 = no clipping (as transformers).
    public var maxGradNorm: Double
    public var gradAccum: Int
    /// Rows per micro-batch (DPO: pairs).
    public var batchSize: Int
    public var epochs: Int
    /// Stops after this many optimizer steps (overrides `epochs`, as transformers' `max_steps`).
    public var maxSteps: Int?
    public var seed: Int
    /// Shuffles the data each epoch.
    public var shuffle: Bool
    /// The saved model's dtype (`bf16`, `f16` or `f32`); nil = the base model's stored dtype.
    public var saveDtype: String?
    /// LoRA's rank; nil = full fine-tuning.
    public var loraR: Int?
    public var loraAlpha: Double
    public var loraDropout: Double
    public var loraTargets: [String]
    /// Merges the LoRA adapter into the weights before saving (else the adapter alone is saved).
    public var mergeLora: Bool
    /// Evaluates on the held-out data every this many optimizer steps.
    public var evalEvery: Int?
    /// Writes a checkpoint every this many optimizer steps.
    public var saveEvery: Int?
    /// Logs every this many optimizer steps.
    public var logEvery: Int
    /// Worker threads; nil = one per core.
    public var threads: Int?

    /// The sequence-length limit when `maxLength` is nil: TRL's default `max_length`, and
    /// `ExampleEncoder`'s.
    public static let defaultMaxLength = 1024

    /// `maxLength`, or `defaultMaxLength` when it is nil.
    public var effectiveMaxLength: Int { maxLength ?? Self.defaultMaxLength }

    /// Settings with TRL's defaults for everything not given. `lr` nil means the objective's default.
    public init(
        objective: Objective, model: String, data: String, out: String, refModel: String? = nil, beta: Double = 0.1,
        labelSmoothing: Double = 0, dpoLoss: DPOLoss.Variant = .sigmoid, lossScope: LossScope = .assistant,
        maxLength: Int? = nil, maxPromptLength: Int? = nil, lr: Double? = nil, weightDecay: Double = 0,
        weightDecayOn: WeightDecayScope = .matrices, schedule: LearningRateSchedule.Kind = .linear, warmupSteps: Int = 0,
        warmupRatio: Double? = nil, maxGradNorm: Double = 1.0, gradAccum: Int = 1, batchSize: Int = 8, epochs: Int = 1,
        maxSteps: Int? = nil, seed: Int = 42, shuffle: Bool = true, saveDtype: String? = nil, loraR: Int? = nil,
        loraAlpha: Double = 16, loraDropout: Double = 0, loraTargets: [String] = TrainSettings.defaultLoraTargets,
        mergeLora: Bool = false, evalEvery: Int? = nil, saveEvery: Int? = nil, logEvery: Int = 1, threads: Int? = nil
    ) {
        self.objective = objective
        self.model = model
        self.data = data
        self.out = out
        self.refModel = refModel
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.dpoLoss = dpoLoss
        self.lossScope = lossScope
        self.maxLength = maxLength
        self.maxPromptLength = maxPromptLength
        self.lr = lr ?? objective.defaultLearningRate
        self.weightDecay = weightDecay
        self.weightDecayOn = weightDecayOn
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.warmupRatio = warmupRatio
        self.maxGradNorm = maxGradNorm
        self.gradAccum = gradAccum
        self.batchSize = batchSize
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.seed = seed
        self.shuffle = shuffle
        self.saveDtype = saveDtype
        self.loraR = loraR
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.loraTargets = loraTargets
        self.mergeLora = mergeLora
        self.evalEvery = evalEvery
        self.saveEvery = saveEvery
        self.logEvery = logEvery
        self.threads = threads
    }

    /// The settings' names: YAML and JSON keys (`rawValue`, snake_case) and command-line options (`option`).
    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case objective, model, data, out
        case refModel = "ref_model"
        case beta
        case labelSmoothing = "label_smoothing"
        case dpoLoss = "dpo_loss"
        case lossScope = "loss_scope"
        case maxLength = "max_length"
        case maxPromptLength = "max_prompt_length"
        case lr
        case weightDecay = "weight_decay"
        case weightDecayOn = "weight_decay_on"
        case schedule
        case warmupSteps = "warmup_steps"
        case warmupRatio = "warmup_ratio"
        case maxGradNorm = "max_grad_norm"
        case gradAccum = "grad_accum"
        case batchSize = "batch_size"
        case epochs
        case maxSteps = "max_steps"
        case seed, shuffle
        case saveDtype = "save_dtype"
        case loraR = "lora_r"
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
        case loraTargets = "lora_targets"
        case mergeLora = "merge_lora"
        case evalEvery = "eval_every"
        case saveEvery = "save_every"
        case logEvery = "log_every"
        case threads

        /// The command-line option: `--max-length`.
        public var option: String { "--" + rawValue.replacingOccurrences(of: "_", with: "-") }
    }

    /// Decodes settings written by `encode(to:)` (`settings.json`); absent keys take their defaults
    /// (`objective`, `model`, `data` and `out` are required).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let objective = try c.decode(Objective.self, forKey: .objective)
        let d = TrainSettings(
            objective: objective, model: try c.decode(String.self, forKey: .model),
            data: try c.decode(String.self, forKey: .data), out: try c.decode(String.self, forKey: .out))
        self = d
        refModel = try c.decodeIfPresent(String.self, forKey: .refModel)
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        labelSmoothing = try c.decodeIfPresent(Double.self, forKey: .labelSmoothing) ?? d.labelSmoothing
        dpoLoss = try c.decodeIfPresent(DPOLoss.Variant.self, forKey: .dpoLoss) ?? d.dpoLoss
        lossScope = try c.decodeIfPresent(LossScope.self, forKey: .lossScope) ?? d.lossScope
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        maxPromptLength = try c.decodeIfPresent(Int.self, forKey: .maxPromptLength)
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        weightDecayOn = try c.decodeIfPresent(WeightDecayScope.self, forKey: .weightDecayOn) ?? d.weightDecayOn
        schedule = try c.decodeIfPresent(LearningRateSchedule.Kind.self, forKey: .schedule) ?? d.schedule
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        warmupRatio = try c.decodeIfPresent(Double.self, forKey: .warmupRatio)
        maxGradNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradNorm) ?? d.maxGradNorm
        gradAccum = try c.decodeIfPresent(Int.self, forKey: .gradAccum) ?? d.gradAccum
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        seed = try c.decodeIfPresent(Int.self, forKey: .seed) ?? d.seed
        shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle) ?? d.shuffle
        saveDtype = try c.decodeIfPresent(String.self, forKey: .saveDtype)
        loraR = try c.decodeIfPresent(Int.self, forKey: .loraR)
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? d.loraAlpha
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? d.loraDropout
        loraTargets = try c.decodeIfPresent([String].self, forKey: .loraTargets) ?? d.loraTargets
        mergeLora = try c.decodeIfPresent(Bool.self, forKey: .mergeLora) ?? d.mergeLora
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery)
        saveEvery = try c.decodeIfPresent(Int.self, forKey: .saveEvery)
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
    }
}

// MARK: - YAML

extension TrainSettings {
    /// Reads settings from a YAML mapping whose keys are the settings' names, snake_case or kebab-case
    /// (`max_length: 2048` or `max-length: 2048`); `objective`, `model`, `data` and `out` are required.
    ///
    /// - Parameters:
    ///   - text: the YAML (JSON is YAML too: `settings.json` reads back).
    ///   - file: the file's name, for messages.
    /// - Returns: the settings, not yet validated (see `validate()`).
    /// - Throws: `TrainSettingsError` naming `file:line` and the key: an unknown or repeated key, a value of
    ///   the wrong type, a missing required key.
    public static func load(yaml text: String, file: String) throws(TrainSettingsError) -> TrainSettings {
        try SettingsReader(file: file).read(text, base: nil)
    }

    /// Reads settings from a YAML mapping over `base` (what the command line gave): keys present replace
    /// `base`'s values, absent ones keep them, and nothing is required. An `objective:` key must equal
    /// `base.objective` (a DPO file given to `train sft` is an error).
    ///
    /// - Throws: `TrainSettingsError`, as `load(yaml:file:)`.
    public static func load(yaml text: String, file: String, base: TrainSettings) throws(TrainSettingsError)
        -> TrainSettings
    {
        try SettingsReader(file: file).read(text, base: base)
    }
}

/// Reads `TrainSettings` from YAML nodes, naming `file:line` and the key as written in every error.
struct SettingsReader {
    let file: String

    func fail(_ node: Node, _ message: String) -> TrainSettingsError {
        TrainSettingsError("\(file):\(node.mark?.line ?? 0): \(message)")
    }

    func read(_ text: String, base: TrainSettings?) throws(TrainSettingsError) -> TrainSettings {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw TrainSettingsError("\(file): the file is empty") }
            root = node
        } catch let e as TrainSettingsError {
            throw e
        } catch {
            throw TrainSettingsError("\(file): not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
        }
        guard let map = root.mapping else { throw fail(root, "expected a mapping of settings (max_length: 1024, …)") }
        // Each key once, in either spelling.
        var given: [TrainSettings.CodingKeys: (spelling: String, value: Node)] = [:]
        for (k, v) in map {
            guard let spelling = k.string, let key = TrainSettings.CodingKeys(rawValue: spelling.replacingOccurrences(of: "-", with: "_"))
            else {
                let known = TrainSettings.CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail(k, "unknown key '\(k.string ?? "?")' (known: \(known))")
            }
            if let first = given[key] {
                throw fail(k, "'\(spelling)' is given twice (first as '\(first.spelling)' on line \(first.value.mark?.line ?? 0))")
            }
            given[key] = (spelling, v)
        }
        func required(_ key: TrainSettings.CodingKeys) throws(TrainSettingsError) -> Node {
            guard let v = given[key]?.value else { throw TrainSettingsError("\(file): \(key.rawValue): missing (required)") }
            return v
        }
        var s: TrainSettings
        if let base {
            s = base
            if let g = given[.objective] {
                let o: TrainSettings.Objective = try choice(g.value, g.spelling, TrainSettings.Objective.allCases)
                guard o == base.objective else {
                    throw fail(g.value, "\(g.spelling): the file is for '\(o.rawValue)' but the command trains '\(base.objective.rawValue)'")
                }
            }
        } else {
            let objective: TrainSettings.Objective = try choice(try required(.objective), "objective", TrainSettings.Objective.allCases)
            s = TrainSettings(
                objective: objective, model: try string(try required(.model), "model"),
                data: try string(try required(.data), "data"), out: try string(try required(.out), "out"))
        }
        // In declaration order, so that the first bad key of the file is the one reported when several are.
        let ordered = given.sorted { ($0.value.value.mark?.line ?? 0) < ($1.value.value.mark?.line ?? 0) }
        for (key, entry) in ordered {
            let k = entry.spelling, v = entry.value
            switch key {
            case .objective: break
            case .model: s.model = try string(v, k)
            case .data: s.data = try string(v, k)
            case .out: s.out = try string(v, k)
            case .refModel: s.refModel = try optional(v) { n throws(TrainSettingsError) in try string(n, k) }
            case .beta: s.beta = try double(v, k)
            case .labelSmoothing: s.labelSmoothing = try double(v, k)
            case .dpoLoss: s.dpoLoss = try choice(v, k, [.sigmoid, .robust])
            case .lossScope: s.lossScope = try choice(v, k, [.assistant, .all])
            case .maxLength: s.maxLength = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .maxPromptLength: s.maxPromptLength = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .lr: s.lr = try double(v, k)
            case .weightDecay: s.weightDecay = try double(v, k)
            case .weightDecayOn: s.weightDecayOn = try choice(v, k, TrainSettings.WeightDecayScope.allCases)
            case .schedule: s.schedule = try choice(v, k, LearningRateSchedule.Kind.allCases)
            case .warmupSteps: s.warmupSteps = try int(v, k)
            case .warmupRatio: s.warmupRatio = try optional(v) { n throws(TrainSettingsError) in try double(n, k) }
            case .maxGradNorm: s.maxGradNorm = try double(v, k)
            case .gradAccum: s.gradAccum = try int(v, k)
            case .batchSize: s.batchSize = try int(v, k)
            case .epochs: s.epochs = try int(v, k)
            case .maxSteps: s.maxSteps = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .seed: s.seed = try int(v, k)
            case .shuffle: s.shuffle = try bool(v, k)
            case .saveDtype: s.saveDtype = try optional(v) { n throws(TrainSettingsError) in try string(n, k) }
            case .loraR: s.loraR = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .loraAlpha: s.loraAlpha = try double(v, k)
            case .loraDropout: s.loraDropout = try double(v, k)
            case .loraTargets: s.loraTargets = try strings(v, k)
            case .mergeLora: s.mergeLora = try bool(v, k)
            case .evalEvery: s.evalEvery = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .saveEvery: s.saveEvery = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            case .logEvery: s.logEvery = try int(v, k)
            case .threads: s.threads = try optional(v) { n throws(TrainSettingsError) in try int(n, k) }
            }
        }
        return s
    }

    /// A plain scalar's text, or nil for anything else (quoted strings, lists, mappings).
    func plain(_ node: Node) -> String? {
        guard let scalar = node.scalar, scalar.style == .plain || scalar.style == .any else { return nil }
        return scalar.string
    }

    /// `null`, `~` or nothing → nil; otherwise the value.
    func optional<T>(_ node: Node, _ value: (Node) throws(TrainSettingsError) -> T) throws(TrainSettingsError) -> T? {
        if node.null != nil { return nil }
        return try value(node)
    }

    func describe(_ node: Node) -> String {
        if let s = node.scalar?.string { return "'\(s)'" }
        return node.sequence != nil ? "a list" : "a mapping"
    }

    func string(_ node: Node, _ key: String) throws(TrainSettingsError) -> String {
        guard let s = node.scalar?.string, !s.isEmpty, node.null == nil else {
            throw fail(node, "\(key): expected a non-empty string, got \(describe(node))")
        }
        return s
    }

    func int(_ node: Node, _ key: String) throws(TrainSettingsError) -> Int {
        guard let text = plain(node), let v = Int(text) else { throw fail(node, "\(key): expected an integer, got \(describe(node))") }
        return v
    }

    func double(_ node: Node, _ key: String) throws(TrainSettingsError) -> Double {
        // Swift's parser, not YAML 1.1's float pattern, which would read `2e-5` (no dot) as a string.
        guard let text = plain(node), let v = Double(text), v.isFinite else {
            throw fail(node, "\(key): expected a number, got \(describe(node))")
        }
        return v
    }

    func bool(_ node: Node, _ key: String) throws(TrainSettingsError) -> Bool {
        guard let v = node.bool else { throw fail(node, "\(key): expected true or false, got \(describe(node))") }
        return v
    }

    /// One of an enum's values by name; `known` lists them for the message.
    func choice<T: RawRepresentable>(_ node: Node, _ key: String, _ known: [T]) throws(TrainSettingsError) -> T
    where T.RawValue == String {
        guard let text = node.scalar?.string, let v = T(rawValue: text) else {
            let choices = known.map(\.rawValue).joined(separator: ", ")
            throw fail(node, "\(key): expected one of \(choices), got \(describe(node))")
        }
        return v
    }

    /// A list of names, or one string of comma-separated names (as on the command line).
    func strings(_ node: Node, _ key: String) throws(TrainSettingsError) -> [String] {
        let items: [String]
        if let seq = node.sequence {
            var out: [String] = []
            for n in seq { out.append(try string(n, key)) }
            items = out
        } else {
            items = try string(node, key).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard !items.isEmpty, !items.contains(where: \.isEmpty) else {
            throw fail(node, "\(key): expected a non-empty list of names")
        }
        return items
    }
}

// MARK: - Validation

extension TrainSettings {
    /// Checks every value's range and the settings' consistency.
    ///
    /// - Throws: `TrainSettingsError` with one line naming the option and the value, for the first
    ///   problem found.
    public func validate() throws(TrainSettingsError) {
        func fail(_ key: CodingKeys, _ message: String) -> TrainSettingsError {
            TrainSettingsError("\(key.option) \(message)")
        }
        func positive(_ value: Int?, _ key: CodingKeys) throws(TrainSettingsError) {
            if let value, value < 1 { throw fail(key, "must be at least 1 (got \(value))") }
        }
        if model.isEmpty { throw fail(.model, "is empty: give the model folder") }
        if data.isEmpty { throw fail(.data, "is empty: give the training data") }
        if out.isEmpty { throw fail(.out, "is empty: give the output folder") }
        if objective == .sft, refModel != nil { throw fail(.refModel, "is for dpo only (train sft has no reference model)") }
        if objective == .sft, maxPromptLength != nil { throw fail(.maxPromptLength, "is for dpo only") }
        if !(beta > 0 && beta.isFinite) { throw fail(.beta, "must be greater than 0 (got \(beta))") }
        if !(labelSmoothing >= 0 && labelSmoothing < 0.5) {
            throw fail(.labelSmoothing, "must be in [0, 0.5) (got \(labelSmoothing))")
        }
        if let maxLength, maxLength < 2 { throw fail(.maxLength, "must be at least 2 (got \(maxLength))") }
        try positive(maxPromptLength, .maxPromptLength)
        if let maxPromptLength, maxPromptLength >= effectiveMaxLength {
            throw fail(.maxPromptLength, "(\(maxPromptLength)) must be less than --max-length (\(effectiveMaxLength))")
        }
        if !(lr > 0 && lr.isFinite) { throw fail(.lr, "must be greater than 0 (got \(lr))") }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw fail(.weightDecay, "must be at least 0 (got \(weightDecay))") }
        if warmupSteps < 0 { throw fail(.warmupSteps, "must be at least 0 (got \(warmupSteps))") }
        if let warmupRatio {
            if !(warmupRatio >= 0 && warmupRatio < 1) { throw fail(.warmupRatio, "must be in [0, 1) (got \(warmupRatio))") }
            if warmupSteps > 0 { throw fail(.warmupRatio, "and --warmup-steps are both given: give one") }
        }
        if !(maxGradNorm >= 0 && maxGradNorm.isFinite) {
            throw fail(.maxGradNorm, "must be at least 0 (0 = no clipping; got \(maxGradNorm))")
        }
        try positive(gradAccum, .gradAccum)
        try positive(batchSize, .batchSize)
        try positive(epochs, .epochs)
        try positive(maxSteps, .maxSteps)
        if seed < 0 { throw fail(.seed, "must be at least 0 (got \(seed))") }
        if let saveDtype, !Self.saveDtypes.contains(saveDtype) {
            throw fail(.saveDtype, "must be one of \(Self.saveDtypes.joined(separator: ", ")) (got '\(saveDtype)')")
        }
        try positive(loraR, .loraR)
        if loraR != nil {
            if !(loraAlpha > 0 && loraAlpha.isFinite) { throw fail(.loraAlpha, "must be greater than 0 (got \(loraAlpha))") }
            if !(loraDropout >= 0 && loraDropout < 1) { throw fail(.loraDropout, "must be in [0, 1) (got \(loraDropout))") }
            if loraTargets.isEmpty || loraTargets.contains(where: \.isEmpty) {
                throw fail(.loraTargets, "must name at least one module (q_proj, …)")
            }
        } else if mergeLora {
            throw fail(.mergeLora, "needs --lora-r (there is no adapter to merge in full fine-tuning)")
        }
        try positive(evalEvery, .evalEvery)
        try positive(saveEvery, .saveEvery)
        try positive(logEvery, .logEvery)
        try positive(threads, .threads)
    }
}

/// A setting that cannot be read or is out of range: one line naming the file, line and key, or the option.
public struct TrainSettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
