import Checkpoints
import Foundation
import Inference
import Jinja

extension LocalModel: ServedModel {
    public var contextLength: Int { runner.contextLength }

    public func chatPrompt(messages: JSONValue, tools: JSONValue?, addGenerationPrompt: Bool) throws -> [Int32] {
        // Requests are parsed once as order-preserving JSON; the template sees the same values, keys in the
        // client's order (what `tojson` of tools prints).
        let m = try Value.parseJSON(messages.serialized(indent: nil))
        let t = try tools.map { try Value.parseJSON($0.serialized(indent: nil)) }
        let ids = try prompts.encode(messages: m, tools: t, addGenerationPrompt: addGenerationPrompt)
        guard !ids.isEmpty else { throw APIError.invalid("the chat template rendered an empty prompt", param: "messages") }
        return ids
    }

    public func textPrompt(_ text: String) throws -> [Int32] {
        tokenizer.encode(text, addSpecialTokens: true).ids
    }

    public func tokenText(_ id: Int32) -> String {
        tokenizer.decode([id], skipSpecialTokens: false)
    }

    @discardableResult
    public func submit(_ request: GenerationRequest, sink: @escaping @Sendable (GenerationEvent) -> Void) throws(EngineError) -> UInt64 {
        try engine.submit(request, sink: sink)
    }

    public func cancel(_ id: UInt64) { engine.cancel(id) }
}
