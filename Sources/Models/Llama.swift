import Checkpoints

/// Llama (1, 2, 3, 3.1 with `llama3` RoPE scaling) and Mistral (sliding-window attention in
/// every layer): pre-norm RMSNorm blocks, SiLU-gated MLP, RoPE on the two halves of each head.
enum Llama: Architecture {
    static let names = ["LlamaForCausalLM", "MistralForCausalLM"]

    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig {
        let r = ConfigReader(config)
        var c = try TransformerConfig(common: config, architecture: architecture)
        c.block = .sequential
        c.norm = .rms(eps: Float(try r.optionalPositiveDouble("rms_norm_eps") ?? 1e-6), unitOffset: false)
        c.activation = try r.activation()
        let bias = try r.optionalBool("attention_bias") ?? false
        c.qkvBias = bias
        c.outputBias = bias
        c.mlpBias = try r.optionalBool("mlp_bias") ?? false
        if architecture == "MistralForCausalLM", let window = try r.optionalPositiveInt("sliding_window") {
            for i in c.layers.indices { c.layers[i].slidingWindow = window }
        }
        return c
    }
}
