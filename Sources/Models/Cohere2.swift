import Checkpoints

/// Cohere2 (Command R7B, Command A): Cohere's parallel block and interleaved RoPE, with
/// `layer_types` alternating sliding-window and full attention; RoPE is applied only in the
/// sliding-window layers (full layers have no position encoding).
enum Cohere2: Architecture {
    static let names = ["Cohere2ForCausalLM"]

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
        c.logitScale = Float(try r.optionalDouble("logit_scale") ?? 0.0625)
        c.tieWordEmbeddings = try r.optionalBool("tie_word_embeddings") ?? true
        let window = try r.optionalPositiveInt("sliding_window") ?? 4096
        let pattern = try r.optionalPositiveInt("sliding_window_pattern") ?? 4
        try c.applyLayerTypes(
            config, window: window, defaultSliding: { ($0 + 1) % pattern != 0 }, ropeOnlyInSliding: true)
        return c
    }
}
