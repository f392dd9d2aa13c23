import Checkpoints
import Foundation
import Tensors

/// The weights of one decoder layer. Matrices point into the memory-mapped checkpoint; norm
/// scales and biases (small) are widened to float32 at load time.
struct LayerWeights: Sendable {
    var inputNorm: [Float]
    /// Sequential: the norm before the MLP. Sandwich: the norm after attention. Parallel: nil.
    var postAttentionNorm: [Float]?
    /// Sandwich only: the norms before and after the MLP.
    var preFeedforwardNorm: [Float]?
    var postFeedforwardNorm: [Float]?
    var q, k, v, o: WeightMatrix
    var qBias, kBias, vBias, oBias: [Float]?
    /// Per-head LayerNorm scales `[heads · headDim]` / `[kvHeads · headDim]` (Cohere qk-norm).
    var qNorm, kNorm: [Float]?
    var gate, up, down: WeightMatrix
    var gateBias, upBias, downBias: [Float]?
}

/// A decoder-only language model run in float32 from a Hugging Face folder of safetensors
/// weights (f32, f16 or bf16, memory-mapped and converted on the fly).
///
/// Supports Llama (all RoPE scalings: default, linear, dynamic, llama3), Mistral, Qwen2, Cohere
/// (with or without qk-norm), Cohere2 and Gemma 2. Every call is independent: the state of a
/// sequence lives in its `KVCache`, which the caller owns.
public struct LanguageModel: Sendable {
    public let config: TransformerConfig
    /// The model folder.
    public let folder: URL
    /// Threads used by the matrix products and attention; results do not depend on it.
    public var threads: Int

    /// Keeps the mapping that the weight matrices point into alive.
    let checkpoint: Checkpoint
    let embedding: WeightMatrix
    let lmHead: WeightMatrix
    let layers: [LayerWeights]
    let finalNorm: [Float]

    /// The `architectures` values `load` accepts.
    public static var supportedArchitectures: [String] { allArchitectures.flatMap { $0.names } }

    /// Loads the model in `folder` (config.json plus model.safetensors or a sharded index).
    /// - Throws: `ModelError` for an unsupported architecture, a bad config key, or a missing or
    ///   misshapen tensor; `CheckpointError` for unreadable or corrupt files.
    public static func load(folder: URL, threads: Int = ParallelFor.defaultThreads) throws -> LanguageModel {
        guard let modelConfig = try ModelConfig.read(folder: folder) else {
            throw ModelError(.badConfig, "\(folder.path): no config.json in the model folder")
        }
        let names = modelConfig.architectures
        guard let name = names.first else {
            throw ModelError(.badConfig, "\(modelConfig.path): architectures is missing or empty")
        }
        guard let family = allArchitectures.first(where: { $0.names.contains(name) }) else {
            throw ModelError(.unsupportedArchitecture,
                "\(modelConfig.path): architecture '\(name)' is not supported "
                    + "(supported: \(supportedArchitectures.joined(separator: ", ")))")
        }
        let config = try family.configure(modelConfig, architecture: name)
        let checkpoint = try Checkpoint(path: folder.path)
        return try LanguageModel(config: config, checkpoint: checkpoint, folder: folder, threads: threads)
    }

    init(config c: TransformerConfig, checkpoint: Checkpoint, folder: URL, threads: Int) throws {
        self.config = c
        self.checkpoint = checkpoint
        self.folder = folder
        self.threads = max(1, threads)
        let w = WeightLoader(checkpoint: checkpoint)
        let h = c.hiddenSize, qWidth = c.headCount * c.headDim, kvWidth = c.kvHeadCount * c.headDim
        embedding = try w.matrix("model.embed_tokens.weight", rows: c.vocabSize, cols: h)
        if c.tieWordEmbeddings && !checkpoint.contains("lm_head.weight") {
            lmHead = embedding
        } else {
            lmHead = try w.matrix("lm_head.weight", rows: c.vocabSize, cols: h)
        }
        finalNorm = try w.vector("model.norm.weight", count: h)
        var layers: [LayerWeights] = []
        for l in 0..<c.layerCount {
            let p = "model.layers.\(l)."
            func bias(_ name: String, _ n: Int, _ present: Bool) throws -> [Float]? {
                present ? try w.vector(p + name, count: n) : nil
            }
            var layer = LayerWeights(
                inputNorm: try w.vector(p + "input_layernorm.weight", count: h),
                q: try w.matrix(p + "self_attn.q_proj.weight", rows: qWidth, cols: h),
                k: try w.matrix(p + "self_attn.k_proj.weight", rows: kvWidth, cols: h),
                v: try w.matrix(p + "self_attn.v_proj.weight", rows: kvWidth, cols: h),
                o: try w.matrix(p + "self_attn.o_proj.weight", rows: h, cols: qWidth),
                gate: try w.matrix(p + "mlp.gate_proj.weight", rows: c.intermediateSize, cols: h),
                up: try w.matrix(p + "mlp.up_proj.weight", rows: c.intermediateSize, cols: h),
                down: try w.matrix(p + "mlp.down_proj.weight", rows: h, cols: c.intermediateSize))
            layer.qBias = try bias("self_attn.q_proj.bias", qWidth, c.qkvBias)
            layer.kBias = try bias("self_attn.k_proj.bias", kvWidth, c.qkvBias)
            layer.vBias = try bias("self_attn.v_proj.bias", kvWidth, c.qkvBias)
            layer.oBias = try bias("self_attn.o_proj.bias", h, c.outputBias)
            layer.gateBias = try bias("mlp.gate_proj.bias", c.intermediateSize, c.mlpBias)
            layer.upBias = try bias("mlp.up_proj.bias", c.intermediateSize, c.mlpBias)
            layer.downBias = try bias("mlp.down_proj.bias", h, c.mlpBias)
            switch c.block {
            case .sequential:
                layer.postAttentionNorm = try w.vector(p + "post_attention_layernorm.weight", count: h)
            case .parallel:
                break
            case .sandwich:
                layer.postAttentionNorm = try w.vector(p + "post_attention_layernorm.weight", count: h)
                layer.preFeedforwardNorm = try w.vector(p + "pre_feedforward_layernorm.weight", count: h)
                layer.postFeedforwardNorm = try w.vector(p + "post_feedforward_layernorm.weight", count: h)
            }
            if c.qkNorm {
                layer.qNorm = try w.vector(p + "self_attn.q_norm.weight", shape: [c.headCount, c.headDim])
                layer.kNorm = try w.vector(p + "self_attn.k_norm.weight", shape: [c.kvHeadCount, c.headDim])
            }
            layers.append(layer)
        }
        self.layers = layers
    }

    /// An empty KV cache for one sequence of this model.
    public func makeCache(reservingPositions capacity: Int = 0) -> KVCache {
        KVCache(layers: config.layerCount, width: config.kvHeadCount * config.headDim, reservingPositions: capacity)
    }

    /// Runs `ids` after the positions already in `cache`, appending them to it.
    /// - Returns: the logits of the last position (`vocabSize` floats), or of every new position
    ///   (`ids.count · vocabSize`, row-major) when `allPositions`.
    public func prefill(_ ids: [Int], cache: inout KVCache, allPositions: Bool = false) throws -> [Float] {
        var caches = [cache]
        cache = KVCache(layers: 0, width: 0)  // drop the caller's reference so the append does not copy
        defer { cache = caches[0] }
        return try forward([ids], caches: &caches, allPositions: allPositions, trace: nil)[0]
    }

    /// One decoding step: runs `token` at position `cache.count` and returns its logits.
    public func decode(_ token: Int, cache: inout KVCache) throws -> [Float] {
        try prefill([token], cache: &cache)
    }

    /// One decoding step for several independent sequences at once (each with its own cache and
    /// position): the weights are read once for all of them. Returns each sequence's logits.
    public func decode(_ tokens: [Int], caches: inout [KVCache]) throws -> [[Float]] {
        guard tokens.count == caches.count else {
            throw ModelError(.badInput, "batched decode: \(tokens.count) tokens for \(caches.count) caches")
        }
        return try forward(tokens.map { [$0] }, caches: &caches, allPositions: false, trace: nil)
    }

    /// The logits of every position of `ids` run from an empty cache (`ids.count · vocabSize`).
    public func logits(forIds ids: [Int]) throws -> [Float] {
        var cache = makeCache(reservingPositions: ids.count)
        return try prefill(ids, cache: &cache, allPositions: true)
    }

    /// Runs `ids` from an empty cache and records the residual stream: the embedding output, each
    /// layer's output, and the final norm's output (each `ids.count · hiddenSize`).
    public func trace(forIds ids: [Int]) throws -> ForwardTrace {
        var caches = [makeCache(reservingPositions: ids.count)]
        var trace = ForwardTrace()
        let logits = try forward([ids], caches: &caches, allPositions: true, trace: &trace)
        trace.logits = logits[0]
        return trace
    }

    /// Greedy continuation of `prompt` by `count` tokens (prefill, then one decode step per token;
    /// no stop token).
    public func greedy(prompt: [Int], count: Int) throws -> [Int] {
        var cache = makeCache(reservingPositions: prompt.count + count)
        var logits = try prefill(prompt, cache: &cache)
        var out: [Int] = []
        while out.count < count {
            let next = Self.argmax(logits)
            out.append(next)
            if out.count == count { break }
            logits = try decode(next, cache: &cache)
        }
        return out
    }

    /// Index of the largest value (the first one on ties).
    public static func argmax(_ x: some Collection<Float>) -> Int {
        var best = -Float.infinity, index = 0
        for (i, v) in x.enumerated() where v > best {
            best = v
            index = i
        }
        return index
    }
}

/// What a traced forward pass recorded (for tests and, later, the backward pass).
public struct ForwardTrace: Sendable {
    /// The embedding output (after Gemma's scaling), `[seq, hidden]`.
    public var embeddings: [Float] = []
    /// Each layer's output, `[seq, hidden]`.
    public var layerOutputs: [[Float]] = []
    /// The final norm's output, `[seq, hidden]`.
    public var finalNorm: [Float] = []
    /// The logits, `[seq, vocab]`.
    public var logits: [Float] = []
    public init() {}
}

/// Reads tensors of a checkpoint with the shape the model needs, naming the tensor on error.
struct WeightLoader {
    let checkpoint: Checkpoint

    func location(_ name: String, shape: [Int]) throws -> Checkpoint.Location {
        guard let loc = checkpoint.location(name) else {
            throw ModelError(.badTensor, "\(checkpoint.directory.path): missing tensor '\(name)'")
        }
        guard loc.info.shape == shape else {
            throw ModelError(.badTensor,
                "\(loc.file.path): tensor '\(name)' has shape \(loc.info.shape), expected \(shape)")
        }
        guard loc.info.dtype.isComputed else {
            throw ModelError(.badTensor,
                "\(loc.file.path): tensor '\(name)' is stored as \(loc.info.dtype.rawValue); "
                    + "only F32, F16 and BF16 are supported")
        }
        return loc
    }

    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let loc = try location(name, shape: [rows, cols])
        return WeightMatrix(data: loc.data, dtype: loc.info.dtype, rows: rows, cols: cols)
    }

    func vector(_ name: String, count: Int) throws -> [Float] {
        try vector(name, shape: [count])
    }

    func vector(_ name: String, shape: [Int]) throws -> [Float] {
        let loc = try location(name, shape: shape)
        let n = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { b in
            if let p = b.baseAddress { Convert.widen(loc.data, loc.info.dtype, count: n, into: p) }
        }
        return out
    }
}
