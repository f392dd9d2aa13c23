import Checkpoints
import Foundation
import Tensors

/// The parsed shape and behaviour of a decoder-only transformer, filled in by an architecture's
/// `configure` from `config.json` (transformers 4 or 5 spelling). The generic decoder reads only
/// this value, so everything architecture-specific is decided in the architecture's own file.
public struct TransformerConfig: Sendable, Equatable {
    /// How a layer's sublayers are wired around the residual stream.
    public enum Block: Sendable, Equatable {
        /// `h += attn(norm₁(h)); h += mlp(norm₂(h))` (Llama, Mistral, Qwen2).
        case sequential
        /// `n = norm(h); h += attn(n) + mlp(n)` (Cohere, Cohere2).
        case parallel
        /// `h += postAttnNorm(attn(inputNorm(h))); h += postMlpNorm(mlp(preMlpNorm(h)))` (Gemma 2).
        case sandwich
    }

    /// The normalisation used for every norm of the model.
    public enum Norm: Sendable, Equatable {
        /// RMSNorm with scale `w`, or `1 + w` when `unitOffset` (Gemma).
        case rms(eps: Float, unitOffset: Bool)
        /// LayerNorm without bias (mean subtracted; Cohere).
        case layer(eps: Float)
    }

    /// The gated MLP's activation.
    public enum Activation: String, Sendable, Equatable {
        case silu
        case geluTanh
        case gelu
    }

    /// RoPE frequency scaling (`rope_type` in `rope_parameters` / `rope_scaling`).
    public enum RopeScaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor`.
        case linear(factor: Double)
        /// NTK-aware base rescaling once the sequence grows past `maxPositions`.
        case dynamic(factor: Double, maxPositions: Int)
        /// Llama 3.1 wavelength-dependent rescaling.
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    }

    /// Per-layer attention settings.
    public struct Layer: Sendable, Equatable {
        /// Query `q` attends keys `q − window + 1 … q`; nil: all earlier keys.
        public var slidingWindow: Int?
        /// Whether this layer applies the rotary embedding (Cohere2's full layers do not).
        public var usesRope: Bool

        public init(slidingWindow: Int? = nil, usesRope: Bool = true) {
            self.slidingWindow = slidingWindow
            self.usesRope = usesRope
        }
    }

    /// The `architectures` entry this was configured for.
    public var architecture: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var vocabSize: Int
    public var maxPositions: Int
    public var layers: [Layer]

    public var block: Block = .sequential
    public var norm: Norm = .rms(eps: 1e-6, unitOffset: false)
    public var activation: Activation = .silu

    public var ropeTheta: Double = 10000
    public var ropeScaling: RopeScaling = .none
    public var ropePairing: LayerKernels.RotaryPairing = .halves
    /// Rotated elements per head (`head_dim · partial_rotary_factor`), even.
    public var ropeDim: Int

    /// q, k, v projections have biases.
    public var qkvBias = false
    /// The output projection has a bias.
    public var outputBias = false
    /// The MLP projections have biases.
    public var mlpBias = false
    /// Per-head LayerNorm of queries and keys before RoPE (Cohere `use_qk_norm`).
    public var qkNorm = false

    /// Multiplies attention scores before softmax (`head_dim^-0.5` unless the model says otherwise).
    public var attentionScale: Float
    /// `cap · tanh(score / cap)` on attention scores (Gemma 2).
    public var attentionSoftcap: Float?
    /// `cap · tanh(logit / cap)` on final logits (Gemma 2).
    public var finalSoftcap: Float?
    /// Multiplies the logits (Cohere `logit_scale`).
    public var logitScale: Float = 1
    /// Multiplies the embeddings (Gemma: `sqrt(hidden_size)`).
    public var embeddingScale: Float?
    /// `lm_head` is `embed_tokens`.
    public var tieWordEmbeddings = false

    public var layerCount: Int { layers.count }

    /// The shared fields, read from `config` (errors name the key and the file).
    public init(common config: ModelConfig, architecture: String) throws {
        let r = ConfigReader(config)
        self.architecture = architecture
        hiddenSize = try r.positiveInt("hidden_size")
        intermediateSize = try r.positiveInt("intermediate_size")
        headCount = try r.positiveInt("num_attention_heads")
        kvHeadCount = try r.optionalPositiveInt("num_key_value_heads") ?? headCount
        guard headCount % kvHeadCount == 0 else {
            throw r.error("num_key_value_heads", "\(kvHeadCount) does not divide num_attention_heads \(headCount)")
        }
        if let d = try r.optionalPositiveInt("head_dim") {
            headDim = d
        } else {
            guard hiddenSize % headCount == 0 else {
                throw r.error("hidden_size",
                    "\(hiddenSize) is not a multiple of num_attention_heads \(headCount) and no head_dim is given")
            }
            headDim = hiddenSize / headCount
        }
        vocabSize = try r.positiveInt("vocab_size")
        maxPositions = try r.optionalPositiveInt("max_position_embeddings") ?? 2048
        let layerCount = try r.positiveInt("num_hidden_layers")
        layers = Array(repeating: Layer(), count: layerCount)
        attentionScale = Float(1 / Double(headDim).squareRoot())
        tieWordEmbeddings = try r.optionalBool("tie_word_embeddings") ?? false

        // RoPE: transformers 5 `rope_parameters`, or transformers 4 top-level `rope_theta` + `rope_scaling`.
        let params = config.json["rope_parameters"].flatMap { $0 == .null ? nil : $0 }
        let legacy = config.json["rope_scaling"].flatMap { $0 == .null ? nil : $0 }
        ropeTheta = try r.optionalPositiveDouble("rope_theta") ?? params?["rope_theta"]?.doubleValue ?? 10000
        guard ropeTheta > 0, ropeTheta.isFinite else { throw r.error("rope_parameters.rope_theta", "must be positive") }
        let scaling = legacy ?? params
        let scalingKey = legacy != nil ? "rope_scaling" : "rope_parameters"
        let topPartial = try r.optionalDouble("partial_rotary_factor")
        let partial = scaling?["partial_rotary_factor"]?.doubleValue ?? topPartial ?? 1
        ropeDim = Int(Double(headDim) * partial) & ~1
        guard ropeDim > 0, ropeDim <= headDim else {
            throw r.error("partial_rotary_factor", "\(partial) gives \(ropeDim) rotary dimensions of \(headDim)")
        }
        if let scaling {
            guard case .object = scaling else { throw r.error(scalingKey, "is not an object") }
            let type = scaling["rope_type"]?.stringValue ?? scaling["type"]?.stringValue ?? "default"
            func number(_ key: String) throws -> Double {
                guard let v = scaling[key]?.doubleValue, v > 0, v.isFinite else {
                    throw r.error("\(scalingKey).\(key)", "is missing or not a positive number (needed by rope_type '\(type)')")
                }
                return v
            }
            switch type {
            case "default": ropeScaling = .none
            case "linear": ropeScaling = .linear(factor: try number("factor"))
            case "dynamic":
                let original = scaling["original_max_position_embeddings"]?.intValue ?? maxPositions
                ropeScaling = .dynamic(factor: try number("factor"), maxPositions: original)
            case "llama3":
                guard let original = scaling["original_max_position_embeddings"]?.intValue, original > 0 else {
                    throw r.error("\(scalingKey).original_max_position_embeddings",
                        "is missing (needed by rope_type 'llama3')")
                }
                let low = try number("low_freq_factor"), high = try number("high_freq_factor")
                guard high > low else {
                    throw r.error("\(scalingKey).high_freq_factor", "\(high) must exceed low_freq_factor \(low)")
                }
                ropeScaling = .llama3(
                    factor: try number("factor"), lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: original)
            default:
                throw r.error("\(scalingKey).rope_type",
                    "'\(type)' is not supported (supported: default, linear, dynamic, llama3)")
            }
        }
    }

    /// `sliding_window` when `layer_types` (or `default`) marks layer `i` as sliding.
    mutating func applyLayerTypes(
        _ config: ModelConfig, window: Int?, defaultSliding: (Int) -> Bool, ropeOnlyInSliding: Bool = false
    ) throws {
        let r = ConfigReader(config)
        var sliding = (0..<layers.count).map(defaultSliding)
        if let list = config.json["layer_types"], list != .null {
            guard let items = list.arrayValue, items.count == layers.count else {
                throw r.error("layer_types", "must be a list of \(layers.count) entries (one per layer)")
            }
            sliding = try items.enumerated().map { i, item in
                switch item.stringValue {
                case "sliding_attention": return true
                case "full_attention": return false
                default: throw r.error("layer_types[\(i)]", "must be \"sliding_attention\" or \"full_attention\"")
                }
            }
        }
        for i in layers.indices {
            layers[i].slidingWindow = sliding[i] ? window : nil
            if ropeOnlyInSliding { layers[i].usesRope = sliding[i] }
        }
    }

    /// The inverse frequencies of the rotary embedding for a sequence of `sequenceLength`
    /// positions (only `dynamic` scaling depends on it), computed in float32 as transformers does.
    public func inverseFrequencies(sequenceLength: Int) -> [Float] {
        let dim = ropeDim
        func base(_ theta: Double) -> [Float] {
            (0..<(dim / 2)).map { i in
                let exponent = Float(2 * i) / Float(dim)
                return 1 / Float(Foundation.pow(theta, Double(exponent)))
            }
        }
        switch ropeScaling {
        case .none:
            return base(ropeTheta)
        case .linear(let factor):
            return base(ropeTheta).map { $0 / Float(factor) }
        case .dynamic(let factor, let maxPos):
            let seq = Double(max(sequenceLength, maxPos))
            let growth = factor * seq / Double(maxPos) - (factor - 1)
            let theta = ropeTheta * Foundation.pow(growth, Double(dim) / Double(dim - 2))
            return base(theta)
        case .llama3(let factor, let low, let high, let original):
            let lowWavelen = Double(original) / low
            let highWavelen = Double(original) / high
            return base(ropeTheta).map { f in
                let wavelen = 2 * Double.pi / Double(f)
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return Float(Double(f) / factor) }
                let smooth = (Double(original) / wavelen - low) / (high - low)
                return Float((1 - smooth) * Double(f) / factor + smooth * Double(f))
            }
        }
    }
}

/// Typed reads of config.json keys with one-line errors naming the key and the file.
struct ConfigReader {
    let config: ModelConfig
    init(_ config: ModelConfig) { self.config = config }

    func error(_ key: String, _ why: String) -> ModelError {
        ModelError(.badConfig, "\(config.path): \(key) \(why)")
    }

    func value(_ key: String) -> JSONValue? {
        guard let v = config.json[key], v != .null else { return nil }
        return v
    }

    func positiveInt(_ key: String) throws -> Int {
        guard let v = try optionalPositiveInt(key) else { throw error(key, "is missing") }
        return v
    }

    /// Sizes above this are refused, so that products of two sizes cannot overflow.
    static let maxSize = 1 << 26

    func optionalPositiveInt(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw error(key, "must be an integer") }
        guard i > 0 else { throw error(key, "must be positive, not \(i)") }
        guard i <= Self.maxSize else { throw error(key, "\(i) is implausibly large (limit \(Self.maxSize))") }
        return i
    }

    /// A positive finite number, if present.
    func optionalPositiveDouble(_ key: String) throws -> Double? {
        guard let d = try optionalDouble(key) else { return nil }
        guard d > 0 else { throw error(key, "must be positive, not \(d)") }
        return d
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw error(key, "must be a number") }
        return d
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw error(key, "must be true or false") }
        return b
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw error(key, "must be a string") }
        return s
    }

    /// `hidden_act` (or the first of `keys` present) as an activation.
    func activation(_ keys: [String] = ["hidden_act"], default fallback: TransformerConfig.Activation = .silu)
        throws -> TransformerConfig.Activation
    {
        guard let key = keys.first(where: { value($0) != nil }), let name = try optionalString(key) else {
            return fallback
        }
        switch name {
        case "silu", "swish": return .silu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": return .geluTanh
        case "gelu": return .gelu
        default: throw error(key, "'\(name)' is not supported (supported: silu, gelu_pytorch_tanh, gelu_new, gelu)")
        }
    }
}
