import Checkpoints

/// Cohere2 (Command R7B, Command A): Cohere's parallel block and interleaved RoPE, with
/// `layer_types` alternating sliding-window and full attention; RoPE is applied only in the
/// sliding-window layers (full layers have no position encoding).
enum Cohere2: Architecture {
    static let names = ["Cohere2ForCausalLM"]

    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig {
        let r = ConfigReader(config)
        var c = try Cohere.configure(config, architecture: architecture)
        c.qkNorm = false  // Cohere2 has no q/k norm
        let window = try r.optionalPositiveInt("sliding_window") ?? 4096
        let pattern = try r.optionalPositiveInt("sliding_window_pattern") ?? 4
        try c.applyLayerTypes(
            config, window: window, defaultSliding: { ($0 + 1) % pattern != 0 }, ropeOnlyInSliding: true)
        return c
    }
}
