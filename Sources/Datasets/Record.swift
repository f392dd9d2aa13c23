/// One chat turn.
public struct Message: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A training or evaluation example in one shape whatever file it came from: the prompt turns,
/// and any of an SFT response, a preferred and a rejected response; plus what mixing and judging
/// need to know about it.
public struct Record: Sendable, Equatable {
    /// System and user turns before the response (at least one turn).
    public var prompt: [Message]
    /// Response turns for SFT (assistant), when the record has one.
    public var completion: [Message]?
    /// Preferred and rejected response turns, when the record is a preference pair.
    public var chosen: [Message]?
    public var rejected: [Message]?
    /// Canonical language code (see `Languages`), nil when the record says nothing.
    public var language: String?
    /// Harm categories in the card's spelling (see `HarmCategories`).
    public var harmCategories: [String]
    public var globalOrLocal: String?
    /// What ties translations of one source prompt together (`source_id`, `prompt_id` or a
    /// declared field); nil when the record has none.
    public var sourceID: String?
    public var id: String?

    public init(
        prompt: [Message], completion: [Message]? = nil, chosen: [Message]? = nil, rejected: [Message]? = nil,
        language: String? = nil, harmCategories: [String] = [], globalOrLocal: String? = nil,
        sourceID: String? = nil, id: String? = nil
    ) {
        self.prompt = prompt
        self.completion = completion
        self.chosen = chosen
        self.rejected = rejected
        self.language = language
        self.harmCategories = harmCategories
        self.globalOrLocal = globalOrLocal
        self.sourceID = sourceID
        self.id = id
    }

    /// The user-visible prompt text (all prompt turns' content, in order).
    public var promptText: String { prompt.map(\.content).joined(separator: "\n") }

    /// Response turns for SFT: the completion, else the preferred response (SFT on the preferred
    /// answer, as Prism's "SFT-Preferred").
    public var sftResponse: [Message]? { completion ?? chosen }

    public var isPreferencePair: Bool { chosen != nil && rejected != nil }
}

/// A record that cannot be read: the reason, without the file and line (the caller adds them).
public struct RecordError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
