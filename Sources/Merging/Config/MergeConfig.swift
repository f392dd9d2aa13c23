import Tensors

/// A model as a config names it: the text written in the YAML — a folder, optionally with a PEFT LoRA
/// adapter applied to it first (`base+adapter`, or `{model: …, lora: …}`).
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    public let path: String
    /// The adapter folder, as written.
    public let lora: String?
    public init(_ path: String, lora: String? = nil) {
        self.path = path
        self.lora = lora
    }
    public var description: String { lora.map { "\(path)+\($0)" } ?? path }
}

/// Parameters given at one scope (a model, a slice, the top level), by name.
public typealias ParameterBlock = [(name: String, setting: ParameterSetting)]

public struct SliceSource: Sendable {
    public var model: ModelReference
    /// Half-open `[start, end)`; nil in `models:` syntax (all layers).
    public var layerRange: Range<Int>?
    public var parameters: ParameterBlock
}

public struct OutputSlice: Sendable {
    public var sources: [SliceSource]
    public var baseModel: ModelReference?
    public var parameters: ParameterBlock
}

/// Where the output's tokenizer comes from.
public enum TokenizerSource: Sendable, Equatable {
    case base
    case model(ModelReference)
    case union
}

/// One output of a sweep: overrides of the base config's parameters (mixmerge's extension).
public struct Variant: Sendable {
    /// The output subfolder's name.
    public var name: String
    /// Replace (by name) entries of the top-level `parameters`.
    public var parameters: ParameterBlock
    /// Replace (by name) entries of a model's `parameters`, keyed by the model path as written.
    public var models: [(model: ModelReference, parameters: ParameterBlock)]
    /// `sweep:` variants: the top-level values also replace every model's and slice's setting of
    /// the same parameter (so sweeping `density` reaches models that set their own).
    public var everywhere = false
}

/// A mergekit merge configuration (mergekit-spec §5), as read from YAML.
public struct MergeConfig: Sendable {
    public var mergeMethod: String
    public var baseModel: ModelReference?
    /// `models:` syntax (one implicit slice over all layers) …
    public var models: [SliceSource]?
    /// … or `slices:` syntax.
    public var slices: [OutputSlice]?
    public var parameters: ParameterBlock
    public var dtype: DType?
    public var outDType: DType?
    public var tokenizerSource: TokenizerSource?
    public var chatTemplate: String?
    /// The YAML text as given (copied into the output folder).
    public var sourceText: String
    /// mixmerge extension: several outputs from one run (`variants:` and/or `sweep:`); empty for a plain merge.
    public var variants: [Variant] = []

    /// Every model the config names, in first-mention order (base last if only named as base).
    public var referencedModels: [ModelReference] {
        var seen: [ModelReference] = []
        func add(_ m: ModelReference?) { if let m, !seen.contains(m) { seen.append(m) } }
        for s in models ?? [] { add(s.model) }
        for slice in slices ?? [] {
            for s in slice.sources { add(s.model) }
        }
        for slice in slices ?? [] { add(slice.baseModel) }
        add(baseModel)
        if case .model(let m) = tokenizerSource { add(m) }
        return seen
    }
}

extension MergeConfig {
    /// The plain config of one variant: its overrides applied, no variants left.
    public func applying(_ variant: Variant) -> MergeConfig {
        func merged(_ block: ParameterBlock, _ overrides: ParameterBlock) -> ParameterBlock {
            var out = block.filter { entry in !overrides.contains { $0.name == entry.name } }
            out += overrides
            return out
        }
        var c = self
        c.variants = []
        let overrides = (variant.parameters.map { "\($0.name)=\($0.setting)" }
            + variant.models.flatMap { m in m.parameters.map { "\(m.model).\($0.name)=\($0.setting)" } }).joined(separator: ", ")
        c.sourceText = "# mixmerge variant '\(variant.name)' of the config below: \(overrides)\n" + sourceText
        c.parameters = merged(parameters, variant.parameters)
        if variant.everywhere {
            let names = Set(variant.parameters.map(\.name))
            func strip(_ b: ParameterBlock) -> ParameterBlock { b.filter { !names.contains($0.name) } }
            c.models = c.models?.map { var m = $0; m.parameters = strip(m.parameters); return m }
            c.slices = c.slices?.map { slice in
                var s = slice
                s.parameters = strip(s.parameters)
                s.sources = s.sources.map { var m = $0; m.parameters = strip(m.parameters); return m }
                return s
            }
        }
        for (model, overrides) in variant.models {
            if var models = c.models {
                for i in models.indices where models[i].model == model { models[i].parameters = merged(models[i].parameters, overrides) }
                c.models = models
            }
            if var slices = c.slices {
                for s in slices.indices {
                    for i in slices[s].sources.indices where slices[s].sources[i].model == model {
                        slices[s].sources[i].parameters = merged(slices[s].sources[i].parameters, overrides)
                    }
                }
                c.slices = slices
            }
        }
        return c
    }
}
