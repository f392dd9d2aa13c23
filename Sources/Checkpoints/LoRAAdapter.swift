import Foundation
import Tensors

/// A PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`), read as PEFT's
/// `merge_and_unload` uses it: per target module its `lora_A`/`lora_B` (or, for an embedding,
/// `lora_embedding_A`/`lora_embedding_B`) and scaling (`lora_alpha / r`, or `/ √r` with `use_rslora`;
/// `rank_pattern` and `alpha_pattern` per module), and the whole tensors of `modules_to_save`.
/// Everything is keyed by the base model's tensor name (`model.layers.0.self_attn.q_proj.weight`).
public final class LoRAAdapter: Sendable {
    /// One adapted module.
    public struct Module: Sendable {
        public enum Kind: Sendable { case linear, embedding }
        public let kind: Kind
        /// linear: A `[r, in]`, B `[out, r]`; embedding: A `[r, rows]`, B `[columns, r]`.
        public let a: Checkpoint.Location
        public let b: Checkpoint.Location
        public let rank: Int
        /// PEFT's `scaling` (a Python float; torch multiplies a float32 tensor by it as a float32).
        public let scaling: Double
        /// The weight stored as `[in, out]` (GPT-2's Conv1D): ΔW is transposed.
        public let fanInFanOut: Bool

        /// The base tensor's shape this module fits: `[out, in]` (`[rows, columns]` for an embedding).
        public var baseShape: [Int] {
            switch kind {
            case .linear: fanInFanOut ? [a.info.shape[1], b.info.shape[0]] : [b.info.shape[0], a.info.shape[1]]
            case .embedding: [a.info.shape[1], b.info.shape[0]]
            }
        }
    }

    public let directory: URL
    public let file: SafetensorsFile
    /// `base_model_name_or_path`, as written.
    public let baseModelName: String?
    /// By base tensor name.
    public let modules: [String: Module]
    /// Whole tensors that replace the base's (`modules_to_save`), by base tensor name.
    public let replacements: [String: Checkpoint.Location]

    public init(path: String) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        directory = url
        func fail(_ code: CheckpointError.Code, _ why: String, _ at: String = path) -> CheckpointError { CheckpointError(code, path: at, why) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw fail(.notFound, "LoRA adapter not found")
        }
        guard isDirectory.boolValue else { throw fail(.unsupported, "a LoRA adapter is a folder (adapter_config.json + adapter_model.safetensors)") }
        let configURL = url.appendingPathComponent("adapter_config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw fail(.notFound, "no adapter_config.json: not a PEFT adapter folder", configURL.path)
        }
        let config: JSONValue
        do { config = try data.withUnsafeBytes { try JSONValue.parse($0) } } catch {
            throw fail(.corrupt, "not valid JSON (\(error))", configURL.path)
        }
        guard case .object = config else { throw fail(.corrupt, "not a JSON object", configURL.path) }
        let peftType = config["peft_type"]?.stringValue ?? "LORA"
        guard peftType == "LORA" else { throw fail(.unsupported, "peft_type \(peftType): only LORA adapters are merged", configURL.path) }
        if config["use_dora"]?.boolValue == true { throw fail(.unsupported, "use_dora: DoRA adapters are not supported", configURL.path) }
        if let bias = config["bias"]?.stringValue, bias != "none" {
            throw fail(.unsupported, "bias: \(bias): adapters that train biases are not supported", configURL.path)
        }
        if config["lora_bias"]?.boolValue == true { throw fail(.unsupported, "lora_bias: not supported", configURL.path) }
        guard let r = config["r"]?.intValue, r > 0 else { throw fail(.corrupt, "r is missing or not a positive integer", configURL.path) }
        let alpha = config["lora_alpha"]?.doubleValue ?? Double(r)
        let rslora = config["use_rslora"]?.boolValue ?? false
        let fanInFanOut = config["fan_in_fan_out"]?.boolValue ?? false
        let rankPattern = (config["rank_pattern"]?.objectValue ?? []).compactMap { k, v in v.intValue.map { (k, $0) } }
        let alphaPattern = (config["alpha_pattern"]?.objectValue ?? []).compactMap { k, v in v.doubleValue.map { (k, $0) } }
        let savedModules = (config["modules_to_save"]?.arrayValue ?? []).compactMap(\.stringValue)
        baseModelName = config["base_model_name_or_path"]?.stringValue

        let weights = url.appendingPathComponent("adapter_model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("adapter_model.bin").path) {
                throw fail(.unsupported, "only adapter_model.bin found; save the adapter with safe_serialization=True")
            }
            throw fail(.notFound, "no adapter_model.safetensors", weights.path)
        }
        file = try SafetensorsFile(path: weights.path)

        // Keys: base_model.model.<module>.lora_A[.<adapter>].weight, <module>.lora_embedding_A[.<adapter>],
        // and base_model.model.<module>.weight for modules_to_save.
        var parts: [String: (a: Checkpoint.Location?, b: Checkpoint.Location?, embedding: Bool)] = [:]
        var replacements: [String: Checkpoint.Location] = [:]
        for info in file.tensors {
            let location = Checkpoint.Location(file: file, info: info)
            var key = info.name
            for prefix in ["base_model.model.", "base_model."] where key.hasPrefix(prefix) {
                key.removeFirst(prefix.count)
                break
            }
            let pieces = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if let i = pieces.lastIndex(where: { ["lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B"].contains($0) }) {
                let module = pieces[..<i].joined(separator: ".")
                let rest = pieces[(i + 1)...]
                let isEmbedding = pieces[i].hasPrefix("lora_embedding")
                guard isEmbedding ? rest.count <= 1 : (rest.last == "weight" && rest.count <= 2) else {
                    throw fail(.unsupported, "tensor '\(info.name)' is not a LoRA weight this reader knows", weights.path)
                }
                var entry = parts[module] ?? (nil, nil, isEmbedding)
                if pieces[i].hasSuffix("A") { entry.a = location } else { entry.b = location }
                parts[module] = entry
                continue
            }
            let module = pieces.dropLast().joined(separator: ".")
            if ["weight", "bias"].contains(pieces.last ?? ""),
               savedModules.contains(where: { module == $0 || module.hasSuffix("." + $0) }) {
                replacements[key] = location
                continue
            }
            throw fail(.unsupported, "tensor '\(info.name)' is neither a LoRA weight nor part of modules_to_save", weights.path)
        }
        var modules: [String: Module] = [:]
        for (module, entry) in parts {
            guard let a = entry.a, let b = entry.b else {
                throw fail(.corrupt, "module \(module) has lora_\(entry.a == nil ? "A" : "B") but not lora_\(entry.a == nil ? "B" : "A")", weights.path)
            }
            guard a.info.shape.count == 2, b.info.shape.count == 2, a.info.shape[0] == b.info.shape[1] else {
                throw fail(.corrupt, "module \(module): lora_A \(a.info.shape) and lora_B \(b.info.shape) do not fit together", weights.path)
            }
            for l in [a, b] where !l.info.dtype.isComputed {
                throw fail(.unsupported, "tensor '\(l.info.name)' is \(l.info.dtype.rawValue); LoRA weights must be float32, float16 or bfloat16", weights.path)
            }
            let rank = Self.patternValue(rankPattern, module) ?? r
            guard rank == a.info.shape[0] else {
                throw fail(.corrupt, "module \(module): lora_A has rank \(a.info.shape[0]) but the config says r = \(rank)", weights.path)
            }
            let moduleAlpha = Self.patternValue(alphaPattern, module) ?? alpha
            let scaling = rslora ? moduleAlpha / Double(rank).squareRoot() : moduleAlpha / Double(rank)
            modules[module + ".weight"] = Module(
                kind: entry.embedding ? .embedding : .linear, a: a, b: b, rank: rank, scaling: scaling,
                fanInFanOut: fanInFanOut && !entry.embedding)
        }
        self.modules = modules
        self.replacements = replacements
    }

    /// PEFT's `get_pattern_key`: the first pattern key `k` (in the config's order) for which
    /// `(.*\.)?(k)$` matches the whole module name.
    static func patternValue<T>(_ pattern: [(String, T)], _ module: String) -> T? {
        for (key, value) in pattern {
            guard let regex = try? Regex("(.*\\.)?(\(key))") else { continue }
            if (try? regex.wholeMatch(in: module)) != nil { return value }
        }
        return nil
    }
}
