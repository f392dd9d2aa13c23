import Foundation
import Jinja

/// A model folder's tokenizer, chat template and special tokens: how conversations and texts become
/// prompt ids, as transformers' `apply_chat_template(..., tokenize=True)` and `tokenizer(text)` make them.
public struct PromptFormat: Sendable {
    public let tokenizer: Tokenizer
    /// The chat template (nil when the folder has none).
    public let template: ChatTemplate?
    /// `bos_token`, `eos_token`, `pad_token`, `unk_token` … as strings.
    public let specialTokens: [String: String]
    /// Where the template came from (for messages).
    public let templateOrigin: String

    /// Reads `tokenizer.json`, the chat template and the special tokens of a model folder
    /// (`TokenizerFolder`: `chat_template.jinja` wins over `tokenizer_config.json`'s `chat_template`).
    /// - Parameter templateName: one of several named templates (`tokenizer_config.json`'s list form);
    ///   without it, the default one (nil when the folder has none).
    public init(folder: URL, templateName: String? = nil) throws {
        let files = try TokenizerFolder(contentsOf: folder)
        tokenizer = files.tokenizer
        specialTokens = files.templateVariables
        let name = templateName ?? "default"
        templateOrigin = folder.appendingPathComponent(files.chatTemplateSource ?? "tokenizer_config.json").path
        if let text = files.chatTemplates[name] {
            template = try ChatTemplate(text, name: templateOrigin)
        } else if templateName != nil {
            let names = files.chatTemplates.keys.sorted()
            throw TemplateError(.unsupported, line: 0,
                "no chat template named '\(name)'" + (names.isEmpty ? " (the folder has none)" : " (there are: \(names.joined(separator: ", ")))"),
                templateName: folder.path)
        } else {
            template = nil
        }
    }

    public init(tokenizer: Tokenizer, template: ChatTemplate?, specialTokens: [String: String]) {
        self.tokenizer = tokenizer
        self.template = template
        self.specialTokens = specialTokens
        templateOrigin = template?.template.name ?? "chat template"
    }

    /// The rendered prompt of a conversation.
    public func render(messages: Value, tools: Value? = nil, documents: Value? = nil, addGenerationPrompt: Bool) throws -> String {
        guard let template else {
            throw TemplateError(.unsupported, line: 0,
                "this model folder has no chat template (chat_template.jinja or tokenizer_config.json's chat_template)",
                templateName: templateOrigin)
        }
        return try template.render(messages: messages, tools: tools, documents: documents,
                                   addGenerationPrompt: addGenerationPrompt, specialTokens: specialTokens)
    }

    /// The ids of a rendered conversation (the template's own BOS only: no post-processor tokens).
    public func encode(messages: Value, tools: Value? = nil, documents: Value? = nil, addGenerationPrompt: Bool) throws -> [Int32] {
        tokenizer.encode(try render(messages: messages, tools: tools, documents: documents, addGenerationPrompt: addGenerationPrompt),
                         addSpecialTokens: false).ids
    }

    /// A conversation's ids and which of them belong to assistant turns: the text of assistant turn i is
    /// what `render(messages[...i])` adds to `render(messages[..<i], addGenerationPrompt: true)` (its
    /// content and the template's end-of-turn marker); a token counts when its bytes lie inside such a
    /// span. The loss of SFT and the score of a conversation are taken over those tokens.
    /// - Throws: when the conversation has no assistant turn, or the template does not render a
    ///   conversation as the concatenation of its turns.
    public func assistantTokens(messages: [Value], tools: Value? = nil) throws -> (ids: [Int32], assistant: [Bool]) {
        let full = try render(messages: .array(messages), tools: tools, addGenerationPrompt: false)
        var spans: [Range<Int>] = []
        for (i, m) in messages.enumerated() {
            guard case .object(let o) = m, case .string("assistant")? = o["role"] else { continue }
            let before = try render(messages: .array(Array(messages[..<i])), tools: tools, addGenerationPrompt: true)
            let through = try render(messages: .array(Array(messages[...i])), tools: tools, addGenerationPrompt: false)
            guard full.utf8.starts(with: through.utf8), through.utf8.starts(with: before.utf8) else {
                throw TemplateError(.unsupported, line: 0,
                    "the chat template does not render this conversation turn by turn (assistant turn \(i)), so its assistant tokens cannot be told apart",
                    templateName: templateOrigin)
            }
            spans.append(before.utf8.count..<through.utf8.count)
        }
        guard !spans.isEmpty else {
            throw TemplateError(.type, line: 0, "the conversation has no assistant turn", templateName: templateOrigin)
        }
        let encoding = tokenizer.encode(full, addSpecialTokens: false)
        let mask = encoding.offsets.map { r in spans.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound && !r.isEmpty } }
        return (encoding.ids, mask)
    }
}
