import Checkpoints

/// Qwen2: Llama's layout with biases on the q, k and v projections (none on o), tied or untied
/// embeddings, and optional sliding windows (`use_sliding_window`, from `max_window_layers` on,
/// or as `layer_types` says).
enum Qwen2: Architecture {
    static let names = ["Qwen2ForCausalLM"]

    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig {
        let r = ConfigReader(config)
        var c = try TransformerConfig(common: config, architecture: architecture)
        c.block = .sequential
        c.norm = .rms(eps: Float(try r.optionalPositiveDouble("rms_norm_eps") ?? 1e-6), unitOffset: false)
        c.activation = try r.activation()
        c.qkvBias = true
        let useSliding = try r.optionalBool("use_sliding_window") ?? false
        let window = useSliding ? try r.optionalPositiveInt("sliding_window") : nil
        let firstSliding = try r.optionalPositiveInt("max_window_layers") ?? 28
        try c.applyLayerTypes(config, window: window, defaultSliding: { window != nil && $0 >= firstSliding })
        return c
    }
}
