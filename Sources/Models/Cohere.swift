import Checkpoints

/// Cohere (Command R, Aya 23; Command R+ with `use_qk_norm`): one LayerNorm without bias feeds
/// attention and MLP in parallel, RoPE rotates interleaved pairs, logits are multiplied by
/// `logit_scale`; with `use_qk_norm`, queries and keys get a per-head LayerNorm before RoPE.
enum Cohere: Architecture {
    static let names = ["CohereForCausalLM"]

    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig {
        let r = ConfigReader(config)
        var c = try TransformerConfig(common: config, architecture: architecture)
        c.block = .parallel
        c.norm = .layer(eps: Float(try r.optionalPositiveDouble("layer_norm_eps") ?? 1e-5))
        c.activation = try r.activation()
        c.ropePairing = .interleaved
        let bias = try r.optionalBool("attention_bias") ?? false
        c.qkvBias = bias
        c.outputBias = bias
        c.qkNorm = try r.optionalBool("use_qk_norm") ?? false
        c.logitScale = Float(try r.optionalDouble("logit_scale") ?? 0.0625)
        c.tieWordEmbeddings = try r.optionalBool("tie_word_embeddings") ?? true
        return c
    }
}
