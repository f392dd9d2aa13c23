import Checkpoints
import Foundation
import Jinja
import Models
import Tokenizers

/// A model folder ready to answer: the weights (`LanguageModel`), its tokenizer and chat template, the
/// EOS ids of `generation_config.json`, and a continuous-batching engine over them.
public final class LocalModel: Sendable {
    /// The name clients use (default: the folder's name).
    public let name: String
    public let folder: URL
    public let runner: ModelRunner
    public let prompts: PromptFormat
    /// End-of-sequence ids: `generation_config.json`'s `eos_token_id` (a number or a list), else
    /// config.json's, else the tokenizer's EOS token.
    public let stopTokens: Set<Int32>
    public let engine: GenerationEngine<ModelRunner>

    public var tokenizer: Tokenizer { prompts.tokenizer }
    public var model: LanguageModel { runner.model }

    /// Loads `folder` (config.json, safetensors, tokenizer.json, tokenizer_config.json).
    /// - Throws: one-line errors naming the file or tensor at fault; a tokenizer whose vocabulary does
    ///   not fit the model's embedding is refused.
    public init(folder: URL, name: String? = nil, maxBatch: Int = 8, maxQueued: Int = 64,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        self.folder = folder
        self.name = name ?? folder.standardizedFileURL.lastPathComponent
        let model = try LanguageModel.load(folder: folder, threads: threads)
        let prompts = try PromptFormat(folder: folder)
        if prompts.tokenizer.vocabSize > model.config.vocabSize {
            throw ModelError(.badInput, "\(folder.path): the tokenizer has \(prompts.tokenizer.vocabSize) tokens but the model's vocabulary is \(model.config.vocabSize)")
        }
        self.prompts = prompts
        runner = ModelRunner(model)
        var stops = Self.eosIds(folder.appendingPathComponent("generation_config.json"))
            ?? Self.eosIds(folder.appendingPathComponent("config.json")) ?? []
        if stops.isEmpty, let eos = prompts.specialTokens["eos_token"], let id = prompts.tokenizer.tokenToId(eos) {
            stops.insert(id)
        }
        stopTokens = stops
        let tokenizer = prompts.tokenizer
        engine = GenerationEngine(model: runner, maxBatch: maxBatch, maxQueued: maxQueued) { ids in
            tokenizer.decode(ids, skipSpecialTokens: true)
        }
    }

    /// `eos_token_id` of a JSON file (a number or a list of numbers), or nil.
    static func eosIds(_ url: URL) -> Set<Int32>? {
        guard let data = try? Data(contentsOf: url),
              let json = try? data.withUnsafeBytes({ try JSONValue.parse($0) }) else { return nil }
        switch json["eos_token_id"] {
        case .number?: return json["eos_token_id"]?.intValue.map { [Int32($0)] }
        case .array(let a)?: return Set(a.compactMap { $0.intValue.map(Int32.init) })
        default: return nil
        }
    }

    /// Generates for one request and waits for the result (blocking the calling thread).
    public func generate(_ request: GenerationRequest) throws -> (text: String, tokens: [Int32], reason: FinishReason) {
        final class Box: @unchecked Sendable {
            var text = ""
            var tokens: [Int32] = []
            var reason: FinishReason = .error
            var error: String?
            let done = DispatchSemaphore(value: 0)
        }
        let box = Box()
        try engine.submit(request) { event in
            switch event {
            case .token(let id, let t, _):
                box.tokens.append(id)
                box.text += t
            case .text(let t): box.text += t
            case .finished(let reason, _, _, let error):
                box.reason = reason
                box.error = error
                box.done.signal()
            }
        }
        box.done.wait()
        if box.reason == .error { throw ModelError(.badInput, box.error ?? "generation failed") }
        return (box.text, box.tokens, box.reason)
    }
}

/// The engine's view of a `LanguageModel`.
public final class ModelRunner: StepModel {
    public let model: LanguageModel

    public init(_ model: LanguageModel) { self.model = model }

    public var vocabularySize: Int { model.config.vocabSize }
    public var contextLength: Int { model.config.maxPositions }
    public func makeCache() -> KVCache { model.makeCache(reservingPositions: 256) }

    public func prefill(_ ids: [Int32], cache: inout KVCache) throws -> [Float] {
        try model.prefill(ids.map(Int.init), cache: &cache)
    }

    public func decode(_ tokens: [Int32], caches: inout [KVCache]) throws -> [[Float]] {
        try model.decode(tokens.map(Int.init), caches: &caches)
    }
}

