import Tensors

/// A model as a config names it: the text written in the YAML.
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    public let path: String
    public init(_ path: String) { self.path = path }
    public var description: String { path }
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
