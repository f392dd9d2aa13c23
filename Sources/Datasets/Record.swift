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
    /// System and user turns before the response (at least one user turn).
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
    /// mapped field); nil when the record has none.
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
    /// answer, Prism's "SFT-Preferred").
    public var sftResponse: [Message]? { completion ?? chosen }

    public var isPreferencePair: Bool { chosen != nil && rejected != nil }
}

public enum Role: UInt8, Sendable {
    case system, user, assistant, tool

    public var name: String {
        switch self {
        case .system: "system"
        case .user: "user"
        case .assistant: "assistant"
        case .tool: "tool"
        }
    }
}

/// The text of a turn on a `JSONTape`: a string token, and for Alpaca's `instruction` + `input`
/// a second token joined after a blank line.
public struct TextRef: Sendable, Equatable {
    public var token: Int32
    public var extra: Int32 = -1

    public init(token: Int32, extra: Int32 = -1) {
        self.token = token
        self.extra = extra
    }
}

public struct Turn: Sendable {
    public var role: Role
    public var text: TextRef

    public init(role: Role, text: TextRef) {
        self.role = role
        self.text = text
    }
}

/// A record located on its tape without decoding any text: what `Record` holds, as token
/// references. Mixing reads pools and writes outputs from layouts (text copied as JSON bytes);
/// `RecordReader.read` decodes a layout into a `Record`.
public struct RecordLayout: Sendable {
    public var prompt: [Turn] = []
    public var completion: [Turn]?
    public var chosen: [Turn]?
    public var rejected: [Turn]?
    public var language: String?
    public var sourceID: Int32 = -1
    public var id: Int32 = -1
    public var harmCategory: Int32 = -1
    public var globalOrLocal: Int32 = -1

    public var sftResponse: [Turn]? { completion ?? chosen }
    public var isPreferencePair: Bool { chosen != nil && rejected != nil }
}

/// A record that cannot be read: the reason, without the file and line (the caller adds them).
public struct RecordError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension JSONTape {
    public func text(_ ref: TextRef) -> String {
        var out: [UInt8] = []
        appendDecoded(ref, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func appendDecoded(_ ref: TextRef, to out: inout [UInt8]) {
        appendDecoded(Int(ref.token), to: &out)
        if ref.extra >= 0 {
            out.append(0x0A); out.append(0x0A)
            appendDecoded(Int(ref.extra), to: &out)
        }
    }

    public func characterCount(_ ref: TextRef) -> Int {
        characterCount(Int(ref.token)) + (ref.extra >= 0 ? 2 + characterCount(Int(ref.extra)) : 0)
    }

    /// Whether two texts are equal (as decoded text).
    public func same(_ a: TextRef, _ b: TextRef) -> Bool {
        if a.extra < 0 && b.extra < 0 && !tokens[Int(a.token)].escaped && !tokens[Int(b.token)].escaped {
            let x = range(Int(a.token)), y = range(Int(b.token))
            return x.count == y.count && (x.count == 0 || memcmp(bytes.base + x.lowerBound, bytes.base + y.lowerBound, x.count) == 0)
        }
        return text(a) == text(b)
    }

    func same(_ a: [Turn], _ b: [Turn]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.role == $1.role && same($0.text, $1.text) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
