/// A Hugging Face chat template with what transformers' `apply_chat_template` does around it.
///
/// Messages lose their keys whose value is `None`; a message's reasoning (`reasoning_content`,
/// `thinking` or `reasoning`) is also given as `thinking` and `reasoning_content`; the special tokens
/// become variables (a token not given stays undefined); `tools` and `documents` are `None` when not
/// given; `extra` variables override special tokens.
public struct ChatTemplate: Sendable {
    /// The parsed template.
    public let template: Template

    /// Parses a chat template's source.
    /// - Throws: `TemplateError` naming the line.
    public init(_ source: String, name: String = "chat template") throws {
        template = try Template(source, name: name)
    }

    /// Renders a conversation as `apply_chat_template(messages, tools=..., documents=...,
    /// add_generation_prompt=..., tokenize=False, **extra)` does.
    /// - Parameters:
    ///   - messages: a list of message objects.
    ///   - specialTokens: `bos_token`, `eos_token`, ... as strings.
    /// - Throws: `TemplateError`: messages not a list of objects, or any template error
    ///   (`.raised` carries the template's `raise_exception` message).
    public func render(
        messages: Value, tools: Value? = nil, documents: Value? = nil, addGenerationPrompt: Bool,
        specialTokens: [String: String] = [:], extra: [String: Value] = [:]
    ) throws -> String {
        guard case .array(let list) = messages else {
            throw TemplateError(
                .type, line: 0, "chat messages must be a list, got \(messages.typeName)",
                templateName: template.name)
        }
        var normalized: [Value] = []
        normalized.reserveCapacity(list.count)
        for (i, message) in list.enumerated() {
            guard case .object(let object) = message else {
                throw TemplateError(
                    .type, line: 0, "chat message \(i) must be a dict, got \(message.typeName)",
                    templateName: template.name)
            }
            normalized.append(.object(ChatTemplate.prepare(object)))
        }
        var context: [String: Value] = [:]
        for (k, v) in specialTokens { context[k] = .string(v) }
        for (k, v) in extra { context[k] = v }
        context["messages"] = .array(normalized)
        context["tools"] = tools ?? Value.none
        context["documents"] = documents ?? Value.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try template.render(context)
    }

    /// Drops `None` values and aliases the reasoning fields, as transformers does.
    static func prepare(_ message: Value.Object) -> Value.Object {
        var object = Value.Object()
        for (k, v) in message.pairs {
            if case .none = v { continue }
            object[k] = v
        }
        let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap { object[$0] }.first
        guard let reasoning else { return object }
        var aliased = Value.Object()
        aliased["thinking"] = reasoning
        for (k, v) in object.pairs { aliased[k] = v }
        aliased["reasoning_content"] = reasoning
        return aliased
    }
}
