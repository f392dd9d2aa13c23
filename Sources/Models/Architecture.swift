import Checkpoints

/// One model family the decoder can run: the `architectures` names it answers to, and how its
/// config.json becomes a `TransformerConfig`. Each family lives in its own file.
protocol Architecture {
    /// `architectures` values (as in config.json) this family handles.
    static var names: [String] { get }
    /// Reads the family's config keys into the decoder's settings.
    static func configure(_ config: ModelConfig, architecture: String) throws -> TransformerConfig
}

/// The families `LanguageModel.load` knows, in the order they are listed in errors.
var allArchitectures: [any Architecture.Type] { [Llama.self, Qwen2.self, Cohere.self, Cohere2.self, Gemma2.self] }
