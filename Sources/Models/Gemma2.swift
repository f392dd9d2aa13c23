import Checkpoints

/// Gemma 2: RMSNorm with `(1 + w)` scales and four norms per layer (before and after attention
/// and MLP), GELU-tanh MLP, embeddings multiplied by `sqrt(hidden_size)`, attention scaled by
/// `query_pre_attn_scalar^-0.5`, tanh soft-capping of attention scores and final logits, and
/// sliding-window attention in alternate layers (from layer 0, or as `layer_types` says).
enum Gemma2: Architecture {
    static let names = ["Gemma2ForCausalLM"]

    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig {
        let r = ConfigReader(config)
        var c = try TransformerConfig(common: config, architecture: architecture)
        c.block = .sandwich
        c.norm = .rms(eps: Float(try r.optionalPositiveDouble("rms_norm_eps") ?? 1e-6), unitOffset: true)
        c.activation = try r.activation(["hidden_activation", "hidden_act"], default: .geluTanh)
        let bias = try r.optionalBool("attention_bias") ?? false
        c.qkvBias = bias
        c.outputBias = bias
        let scalar = try r.optionalPositiveDouble("query_pre_attn_scalar") ?? 256
        c.attentionScale = Float(1 / scalar.squareRoot())
        c.attentionSoftcap = try r.optionalPositiveDouble("attn_logit_softcapping").map { Float($0) }
        c.finalSoftcap = try r.optionalPositiveDouble("final_logit_softcapping").map { Float($0) }
        c.embeddingScale = Float(Double(c.hiddenSize).squareRoot())
        c.tieWordEmbeddings = try r.optionalBool("tie_word_embeddings") ?? true
        let window = try r.optionalPositiveInt("sliding_window") ?? 4096
        try c.applyLayerTypes(config, window: window, defaultSliding: { ($0 + 1) % 2 != 0 })
        return c
    }
}
