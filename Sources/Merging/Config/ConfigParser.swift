import Tensors
import Yams

/// Reads mergekit YAML into a `MergeConfig`, checking every key and value. An error names the
/// file, the line and the key: `config.yml:7: models[1].parameters.weight: expected a number …`.
public struct ConfigParser {
    public let fileName: String

    public init(fileName: String = "config.yml") { self.fileName = fileName }

    static let topLevelKeys: Set<String> = [
        "merge_method", "base_model", "models", "slices", "modules", "parameters", "dtype", "out_dtype",
        "tokenizer_source", "tokenizer", "chat_template", "name", "variants", "sweep",
    ]

    public func parse(_ text: String) throws -> MergeConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw MergeError.config("\(fileName): the file is empty") }
            root = node
        } catch let error as MergeError {
            throw error
        } catch let error as YamlError {
            throw MergeError.config("\(fileName): not valid YAML: \(Self.describe(error))")
        } catch {
            throw MergeError.config("\(fileName): not valid YAML: \(error)")
        }
        guard let map = root.mapping else { throw fail(root, "top level", "expected a mapping of keys such as merge_method and models") }
        for (k, _) in map {
            guard let key = k.string else { throw fail(k, "top level", "keys must be strings") }
            guard Self.topLevelKeys.contains(key) else {
                throw fail(k, key, "unknown key (known: \(Self.topLevelKeys.sorted().joined(separator: ", ")))")
            }
        }
        func value(_ key: String) -> Node? { map[key] }
        guard let methodNode = value("merge_method") else { throw MergeError.config("\(fileName): merge_method: missing (e.g. merge_method: linear)") }
        guard let method = methodNode.string, methodNode.scalar != nil else { throw fail(methodNode, "merge_method", "expected a method name") }
        guard MergeMethods.named(method) != nil else {
            throw fail(methodNode, "merge_method", "unknown merge method '\(method)'; known: \(MergeMethods.all.map(\.name).joined(separator: ", "))")
        }
        if let modules = value("modules") { throw fail(modules, "modules", "multi-module (vision-language) configs are not supported yet; use models: or slices:") }
        var config = MergeConfig(
            mergeMethod: method, baseModel: nil, models: nil, slices: nil, parameters: [], dtype: nil,
            outDType: nil, tokenizerSource: nil, chatTemplate: nil, sourceText: text)
        if let b = value("base_model") { config.baseModel = try modelReference(b, "base_model") }
        switch (value("models"), value("slices")) {
        case (nil, nil): throw MergeError.config("\(fileName): needs either models: or slices:")
        case (.some(let m), .some): throw fail(m, "models", "give either models: or slices:, not both")
        case (.some(let m), nil):
            guard let list = m.sequence, !list.isEmpty else { throw fail(m, "models", "expected a non-empty list of {model: …}") }
            config.models = try list.enumerated().map { i, n in try source(n, "models[\(i)]", needsRange: false) }
        case (nil, .some(let s)):
            guard let list = s.sequence, !list.isEmpty else { throw fail(s, "slices", "expected a non-empty list of {sources: …}") }
            config.slices = try list.enumerated().map { i, n in try slice(n, "slices[\(i)]") }
        }
        if let p = value("parameters") { config.parameters = try parameters(p, "parameters") }
        if let d = value("dtype") { config.dtype = try dtype(d, "dtype") }
        if let d = value("out_dtype") { config.outDType = try dtype(d, "out_dtype") }
        switch (value("tokenizer_source"), value("tokenizer")) {
        case (.some(let t), .some): throw fail(t, "tokenizer_source", "give either tokenizer_source or tokenizer, not both")
        case (.some(let t), nil): config.tokenizerSource = try tokenizerSource(t, "tokenizer_source")
        case (nil, .some(let t)):
            guard let tm = t.mapping else { throw fail(t, "tokenizer", "expected a mapping such as {source: base}") }
            for (k, v) in tm {
                switch k.string {
                case "source": config.tokenizerSource = try tokenizerSource(v, "tokenizer.source")
                case "tokens", "pad_to_multiple_of":
                    throw fail(k, "tokenizer.\(k.string ?? "")", "not supported yet (vocabulary alignment is planned)")
                default: throw fail(k, "tokenizer.\(k.string ?? "?")", "unknown key (known: source)")
                }
            }
            if config.tokenizerSource == nil { config.tokenizerSource = .union }
        default: break
        }
        if config.tokenizerSource == .union {
            throw fail(value("tokenizer_source") ?? value("tokenizer") ?? root, "tokenizer_source",
                "'union' is not supported yet; use 'base' or a model path")
        }
        if let c = value("chat_template") {
            guard let s = c.string, c.scalar != nil else { throw fail(c, "chat_template", "expected a template name or Jinja text") }
            guard ChatTemplates.isValid(s) else {
                throw fail(c, "chat_template", "'\(s)' is not auto, a built-in name (\(ChatTemplates.builtIn.keys.sorted().joined(separator: ", "))) or a Jinja template")
            }
            config.chatTemplate = s
        }
        if let n = value("name"), n.string == nil { throw fail(n, "name", "expected a string") }
        if let v = value("variants") { config.variants += try variants(v, config) }
        if let s = value("sweep") { config.variants += try sweep(s) }
        var names = Set<String>()
        for v in config.variants where !names.insert(v.name).inserted {
            throw MergeError.config("\(fileName): variants: the name '\(v.name)' is used twice")
        }
        return config
    }

    // MARK: - Sweeps (mixmerge extension; mergekit ignores these keys)

    /// `variants: [{name, parameters?, models?: {path: {param: value}}}]`.
    func variants(_ node: Node, _ config: MergeConfig) throws -> [Variant] {
        guard let list = node.sequence, !list.isEmpty else { throw fail(node, "variants", "expected a non-empty list of {name, parameters, models}") }
        let known = Set(config.referencedModels.map(\.description))
        return try list.enumerated().map { i, item in
            let key = "variants[\(i)]"
            guard let m = item.mapping else { throw fail(item, key, "expected {name: …, parameters: …, models: …}") }
            var variant = Variant(name: "", parameters: [], models: [])
            for (k, v) in m {
                switch k.string {
                case "name":
                    guard let s = v.string, isSafeName(s) else { throw fail(v, key + ".name", "expected a folder name (letters, digits, . _ -)") }
                    variant.name = s
                case "parameters": variant.parameters = try parameters(v, key + ".parameters")
                case "models":
                    guard let mm = v.mapping else { throw fail(v, key + ".models", "expected {model path: {parameter: value}}") }
                    for (mk, mv) in mm {
                        guard let path = mk.string, known.contains(path) else {
                            throw fail(mk, key + ".models", "'\(mk.string ?? "?")' is not a model of this config (known: \(known.sorted().joined(separator: ", ")))")
                        }
                        let model = config.referencedModels.first { $0.description == path }!
                        variant.models.append((model, try parameters(mv, key + ".models." + path)))
                    }
                default: throw fail(k, key + ".\(k.string ?? "?")", "unknown key (known: name, parameters, models)")
                }
            }
            guard !variant.name.isEmpty else { throw fail(item, key + ".name", "missing") }
            return variant
        }
    }

    /// `sweep: {param: [v1, v2, …], …}` — one variant per combination of values, named
    /// `param-value[_param-value…]`; each value replaces the parameter at every level of the config.
    func sweep(_ node: Node) throws -> [Variant] {
        guard let m = node.mapping, m.count > 0 else { throw fail(node, "sweep", "expected {parameter: [values]}") }
        var axes: [(String, [ParameterSetting])] = []
        for (k, v) in m {
            guard let name = k.string else { throw fail(k, "sweep", "parameter names must be strings") }
            guard let seq = v.sequence, !seq.isEmpty else { throw fail(v, "sweep.\(name)", "expected a list of values") }
            axes.append((name, try seq.map { try setting($0, "sweep.\(name)", allowConditional: true) }))
        }
        var combos: [[(String, ParameterSetting)]] = [[]]
        for (name, values) in axes { combos = combos.flatMap { c in values.map { c + [(name, $0)] } } }
        return combos.map { combo in
            let label = combo.map { "\($0.0)-\($0.1.description.filter { !" []{},:*".contains($0) })" }.joined(separator: "_")
            return Variant(name: label, parameters: combo.map { (name: $0.0, setting: $0.1) }, models: [], everywhere: true)
        }
    }

    func isSafeName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && s.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) }
    }

    // MARK: - Pieces

    func fail(_ node: Node, _ key: String, _ why: String) -> MergeError {
        let line = node.mark.map { ":\($0.line)" } ?? ""
        return MergeError.config("\(fileName)\(line): \(key): \(why)")
    }

    static func describe(_ error: YamlError) -> String {
        String(describing: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && $0 != "^" }.joined(separator: " ")
    }

    /// `PATH`, `PATH+ADAPTER` (split at the '+', as mergekit does), `{path: PATH}`, or
    /// `{model: PATH | {path: PATH}, lora: ADAPTER | {path: ADAPTER}}`.
    func modelReference(_ node: Node, _ key: String) throws -> ModelReference {
        if let s = node.string, node.scalar != nil, !s.isEmpty {
            let chunks = s.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
            switch chunks.count {
            case 1: return ModelReference(s)
            case 2 where !chunks[0].isEmpty && !chunks[1].isEmpty: return ModelReference(chunks[0], lora: chunks[1])
            default: throw fail(node, key, "'\(s)': expected MODEL or MODEL+LORA_ADAPTER (one '+')")
            }
        }
        func path(_ v: Node, _ key: String) throws -> String {
            if let inner = v.mapping {
                guard let path = inner["path"]?.string, !path.isEmpty else { throw fail(v, key, "expected {path: …}") }
                if inner["revision"] != nil { throw fail(v, key + ".revision", "revisions are not supported; give a local folder") }
                return path
            }
            guard let s = v.string, v.scalar != nil, !s.isEmpty else { throw fail(v, key, "expected a path") }
            return s
        }
        if let m = node.mapping {
            var model: ModelReference?
            var lora: String?
            for (k, v) in m {
                switch k.string {
                case "model":
                    model = v.mapping != nil ? ModelReference(try path(v, key + ".model")) : try modelReference(v, key + ".model")
                case "path": model = try modelReference(v, key + ".path")
                case "lora": lora = try path(v, key + ".lora")
                case "override_architecture": throw fail(k, key + ".override_architecture", "not supported")
                default: continue
                }
            }
            guard let model else { throw fail(node, key + ".model", "missing") }
            guard let lora else { return model }
            guard model.lora == nil else { throw fail(node, key, "two LoRA adapters for one model") }
            return ModelReference(model.path, lora: lora)
        }
        throw fail(node, key, "expected a model path")
    }

    func source(_ node: Node, _ key: String, needsRange: Bool) throws -> SliceSource {
        guard let m = node.mapping else { throw fail(node, key, "expected a mapping such as {model: path}") }
        var model: ModelReference?
        var range: Range<Int>?
        var params: ParameterBlock = []
        for (k, v) in m {
            switch k.string {
            case "model": model = try modelReference(v, key + ".model")
            case "parameters": params = try parameters(v, key + ".parameters")
            case "layer_range":
                guard needsRange else { throw fail(k, key + ".layer_range", "only allowed in slices: sources") }
                guard let seq = v.sequence, seq.count == 2, let a = seq[0].int, let b = seq[1].int else {
                    throw fail(v, key + ".layer_range", "expected [start, end]")
                }
                guard a >= 0, b > a else { throw fail(v, key + ".layer_range", "[\(a), \(b)] is empty or negative (end is exclusive)") }
                range = a..<b
            default:
                throw fail(k, key + ".\(k.string ?? "?")", "unknown key (known: model, parameters\(needsRange ? ", layer_range" : ""))")
            }
        }
        guard let model else { throw fail(node, key + ".model", "missing") }
        if needsRange && range == nil { throw fail(node, key + ".layer_range", "missing") }
        return SliceSource(model: model, layerRange: range, parameters: params)
    }

    func slice(_ node: Node, _ key: String) throws -> OutputSlice {
        guard let m = node.mapping else { throw fail(node, key, "expected {sources: […]}") }
        var out = OutputSlice(sources: [], baseModel: nil, parameters: [])
        var sawSources = false
        for (k, v) in m {
            switch k.string {
            case "sources":
                guard let seq = v.sequence, !seq.isEmpty else { throw fail(v, key + ".sources", "expected a non-empty list") }
                out.sources = try seq.enumerated().map { i, n in try source(n, key + ".sources[\(i)]", needsRange: true) }
                sawSources = true
            case "base_model": out.baseModel = try modelReference(v, key + ".base_model")
            case "parameters": out.parameters = try parameters(v, key + ".parameters")
            case "residual_weight": continue
            default: throw fail(k, key + ".\(k.string ?? "?")", "unknown key (known: sources, base_model, parameters)")
            }
        }
        guard sawSources else { throw fail(node, key + ".sources", "missing") }
        let lengths = Set(out.sources.compactMap { $0.layerRange?.count })
        if lengths.count > 1 {
            throw fail(node, key + ".sources", "layer ranges have different lengths (\(out.sources.compactMap { $0.layerRange.map { "[\($0.lowerBound), \($0.upperBound)]" } }.joined(separator: ", ")))")
        }
        return out
    }

    func parameters(_ node: Node, _ key: String) throws -> ParameterBlock {
        if case .scalar(let s) = node, s.string.isEmpty || s.string == "null" || s.string == "~" { return [] }
        guard let m = node.mapping else { throw fail(node, key, "expected a mapping of parameter names to values") }
        var block: ParameterBlock = []
        for (k, v) in m {
            guard let name = k.string else { throw fail(k, key, "parameter names must be strings") }
            block.append((name, try setting(v, key + "." + name, allowConditional: true)))
        }
        return block
    }

    func scalar(_ node: Node, _ key: String) throws -> ParameterScalar {
        guard let s = node.scalar else { throw fail(node, key, "expected a scalar") }
        if s.style == .plain {
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(Double(i)) }
            if let f = node.float { return .number(f) }
        }
        // mergekit coerces numeric strings such as "1e-3" to numbers.
        if let d = Double(s.string) { return .number(d) }
        return .string(s.string)
    }

    func setting(_ node: Node, _ key: String, allowConditional: Bool) throws -> ParameterSetting {
        switch node {
        case .scalar:
            return .scalar(try scalar(node, key))
        case .sequence(let seq):
            if seq.contains(where: { $0.mapping != nil }) {
                guard allowConditional else { throw fail(node, key, "conditionals cannot be nested") }
                return .conditional(try seq.map { try conditional($0, key) })
            }
            guard !seq.isEmpty else { throw fail(node, key, "empty list") }
            return .gradient(try seq.map { item in
                guard item.scalar != nil else { throw fail(item, key, "gradient entries must be scalars") }
                return try scalar(item, key)
            })
        case .mapping:
            guard allowConditional else { throw fail(node, key, "conditionals cannot be nested") }
            return .conditional([try conditional(node, key)])
        case .alias:
            throw fail(node, key, "YAML aliases are not supported here")
        }
    }

    func conditional(_ node: Node, _ key: String) throws -> (filter: String?, value: ParameterSetting) {
        guard let m = node.mapping else { throw fail(node, key, "expected {filter: …, value: …} entries in the list") }
        var filter: String?
        var value: ParameterSetting?
        for (k, v) in m {
            switch k.string {
            case "filter":
                guard let f = v.string, v.scalar != nil else { throw fail(v, key + ".filter", "expected a string") }
                filter = f
            case "value": value = try setting(v, key + ".value", allowConditional: false)
            default: throw fail(k, key + ".\(k.string ?? "?")", "unknown key in a conditional (known: filter, value)")
            }
        }
        guard let value else { throw fail(node, key + ".value", "missing") }
        return (filter, value)
    }

    func dtype(_ node: Node, _ key: String) throws -> DType {
        guard let s = node.string, node.scalar != nil else { throw fail(node, key, "expected a dtype name") }
        guard let d = DType(mergekitName: s) else {
            throw fail(node, key, "'\(s)' is not a dtype (use bfloat16, float16 or float32)")
        }
        guard d.isComputed else { throw fail(node, key, "'\(s)' is not supported (use bfloat16, float16 or float32)") }
        return d
    }

    func tokenizerSource(_ node: Node, _ key: String) throws -> TokenizerSource {
        switch node.string {
        case "base": return .base
        case "union": return .union
        default: return .model(try modelReference(node, key))
        }
    }
}
