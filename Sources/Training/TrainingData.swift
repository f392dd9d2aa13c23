import Foundation
import Jinja
import Tokenizers

/// One supervised example: token ids and, aligned with them, the labels the loss is taken on
/// (`-100` where it is not: prompt, system and user turns, padding).
public struct SFTExample: Sendable, Equatable {
    public var ids: [Int32]
    public var labels: [Int]
    public init(ids: [Int32], labels: [Int]) {
        self.ids = ids
        self.labels = labels
    }
}

/// One preference pair, as TRL's DPO tokenizes it: the prompt, and each completion with EOS appended.
public struct PreferenceExample: Sendable, Equatable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]
    public init(prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// A data record that cannot be trained on: `file:line: what is wrong`.
public struct TrainingDataError: Error, Sendable, CustomStringConvertible, Equatable {
    public let place: String
    public let message: String
    public init(_ place: String, _ message: String) {
        self.place = place
        self.message = message
    }
    public var description: String { "\(place): \(message)" }
}

/// Which tokens the SFT loss is taken on.
public enum LossScope: String, Sendable, Codable {
    /// The assistant turns only (their content and the template's end-of-turn marker), as TRL's
    /// assistant-only loss.
    case assistant
    /// Every token of the rendered conversation after the first.
    case all
}

/// Turns records — conversations (`mixmerge mix`'s SFT and DPO files and the same shapes from any source)
/// or pre-tokenised ids — into training examples with a model folder's tokenizer and chat template.
public struct ExampleEncoder: Sendable {
    public let format: PromptFormat
    /// Appended to every DPO completion (TRL does; nil when the tokenizer has no EOS).
    public let eos: Int32?
    public var scope: LossScope
    /// Longest sequence (prompt + completion) kept; longer ones are cut (SFT: the end; DPO: the prompt's
    /// start first, down to `maxPromptLength`, then the completions' ends).
    public var maxLength: Int
    public var maxPromptLength: Int?

    public init(format: PromptFormat, scope: LossScope = .assistant, maxLength: Int = 1024, maxPromptLength: Int? = nil) {
        self.format = format
        self.scope = scope
        self.maxLength = maxLength
        self.maxPromptLength = maxPromptLength
        eos = format.specialTokens["eos_token"].flatMap { format.tokenizer.tokenToId($0) }
    }

    /// An SFT example from a record: `{"messages": [...]}` or `{"input_ids": [...], "labels": [...]}`.
    public func sft(_ record: Value, at place: String) throws -> SFTExample {
        guard case .object(let o) = record else { throw TrainingDataError(place, "a record must be a JSON object") }
        var example: SFTExample
        if case .array(let ids)? = o["input_ids"] {
            let input = try Self.ints(ids, "input_ids", place)
            let labels: [Int]
            if case .array(let l)? = o["labels"] { labels = try Self.ints(l, "labels", place).map(Int.init) } else { labels = input.map(Int.init) }
            guard labels.count == input.count else {
                throw TrainingDataError(place, "\"labels\" has \(labels.count) entries for \(input.count) input_ids")
            }
            example = SFTExample(ids: input, labels: labels)
        } else if case .array(let messages)? = o["messages"] {
            guard messages.contains(where: { Self.role($0) == "assistant" }) else {
                throw TrainingDataError(place, "the conversation has no assistant turn to learn from")
            }
            do {
                switch scope {
                case .assistant:
                    let (ids, mask) = try format.assistantTokens(messages: messages)
                    example = SFTExample(ids: ids, labels: zip(ids, mask).map { $1 ? Int($0) : -100 })
                case .all:
                    let ids = try format.encode(messages: .array(messages), addGenerationPrompt: false)
                    example = SFTExample(ids: ids, labels: ids.map(Int.init))
                }
            } catch let e as TrainingDataError { throw e } catch { throw TrainingDataError(place, "\(error)") }
        } else {
            throw TrainingDataError(place, "an SFT record needs \"messages\" (a conversation) or \"input_ids\" (with \"labels\")")
        }
        if example.ids.count > maxLength {
            example.ids.removeLast(example.ids.count - maxLength)
            example.labels.removeLast(example.labels.count - maxLength)
        }
        // The first position predicts nothing (labels shift left by one): a label there is not a target.
        guard example.labels.dropFirst().contains(where: { $0 != -100 }) else {
            throw TrainingDataError(place, "no token to learn from within --max-length \(maxLength)")
        }
        return example
    }

    /// A preference pair from `{"prompt": [...], "chosen": [...], "rejected": [...]}` (explicit prompt),
    /// `{"chosen": [...], "rejected": [...]}` (whole conversations sharing their prompt turns), or
    /// `{"prompt_ids", "chosen_ids", "rejected_ids"}`.
    public func preference(_ record: Value, at place: String) throws -> PreferenceExample {
        guard case .object(let o) = record else { throw TrainingDataError(place, "a record must be a JSON object") }
        var pair: PreferenceExample
        if case .array(let p)? = o["prompt_ids"], case .array(let c)? = o["chosen_ids"], case .array(let r)? = o["rejected_ids"] {
            pair = PreferenceExample(prompt: try Self.ints(p, "prompt_ids", place), chosen: try Self.ints(c, "chosen_ids", place),
                                     rejected: try Self.ints(r, "rejected_ids", place))
        } else {
            guard case .array(var chosen)? = o["chosen"], case .array(var rejected)? = o["rejected"] else {
                throw TrainingDataError(place, "a DPO record needs \"chosen\" and \"rejected\" conversations (and \"prompt\"), or *_ids lists")
            }
            var prompt: [Value]
            if case .array(let p)? = o["prompt"] {
                prompt = p
            } else if case .string(let p)? = o["prompt"] {
                prompt = [["role": "user", "content": .string(p)]]
            } else {
                var shared = 0
                while shared < min(chosen.count, rejected.count) - 1, chosen[shared] == rejected[shared] { shared += 1 }
                prompt = Array(chosen[..<shared])
                chosen = Array(chosen[shared...])
                rejected = Array(rejected[shared...])
            }
            guard !prompt.isEmpty else { throw TrainingDataError(place, "the pair has no prompt turns") }
            for (name, turns) in [("chosen", chosen), ("rejected", rejected)] where !turns.contains(where: { Self.role($0) == "assistant" }) {
                throw TrainingDataError(place, "\"\(name)\" has no assistant turn")
            }
            do {
                let promptText = try format.render(messages: .array(prompt), addGenerationPrompt: true)
                func completion(_ turns: [Value]) throws -> [Int32] {
                    let whole = try format.render(messages: .array(prompt + turns), addGenerationPrompt: false)
                    guard whole.utf8.starts(with: promptText.utf8) else {
                        throw TrainingDataError(place, "the chat template does not render the completion after the prompt")
                    }
                    let tail = String(decoding: Array(whole.utf8.dropFirst(promptText.utf8.count)), as: UTF8.self)
                    return format.tokenizer.encode(tail, addSpecialTokens: false).ids
                }
                pair = PreferenceExample(prompt: format.tokenizer.encode(promptText, addSpecialTokens: false).ids,
                                         chosen: try completion(chosen), rejected: try completion(rejected))
            } catch let e as TrainingDataError { throw e } catch { throw TrainingDataError(place, "\(error)") }
            if let eos {
                pair.chosen.append(eos)
                pair.rejected.append(eos)
            }
        }
        if let maxPromptLength, pair.prompt.count > maxPromptLength { pair.prompt.removeFirst(pair.prompt.count - maxPromptLength) }
        let room = maxLength - pair.prompt.count
        guard room > 0 else { throw TrainingDataError(place, "the prompt alone fills --max-length \(maxLength)") }
        if pair.chosen.count > room { pair.chosen.removeLast(pair.chosen.count - room) }
        if pair.rejected.count > room { pair.rejected.removeLast(pair.rejected.count - room) }
        guard !pair.chosen.isEmpty, !pair.rejected.isEmpty else { throw TrainingDataError(place, "an empty completion") }
        return pair
    }

    static func role(_ v: Value) -> String? {
        if case .object(let o) = v, case .string(let r)? = o["role"] { return r }
        return nil
    }

    static func ints(_ list: [Value], _ key: String, _ place: String) throws -> [Int32] {
        try list.map { v in
            guard case .int(let i) = v, let x = Int32(exactly: i) else { throw TrainingDataError(place, "\"\(key)\" must hold integers") }
            return x
        }
    }

    /// Every record of a JSON-lines file, with `file:line` places; blank lines are skipped.
    public static func records(_ url: URL) throws -> [(place: String, value: Value)] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TrainingDataError(url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TrainingDataError(url.path, "not UTF-8 text") }
        var out: [(String, Value)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let place = "\(url.path):\(n + 1)"
            do { out.append((place, try Value.parseJSON(trimmed))) } catch { throw TrainingDataError(place, "\(error)") }
        }
        guard !out.isEmpty else { throw TrainingDataError(url.path, "no records") }
        return out
    }
}

/// Right-padded batches without cross-example attention: each row keeps its own length.
public struct Batch: Sendable, Equatable {
    /// `[rows][length]`, padded with `pad`.
    public var ids: [[Int32]]
    /// `[rows][length]`, −100 on padding and untrained positions.
    public var labels: [[Int]]
    /// Real tokens per row.
    public var lengths: [Int]

    /// An SFT batch.
    public static func sft(_ examples: [SFTExample], pad: Int32) -> Batch {
        let length = examples.map(\.ids.count).max() ?? 0
        return Batch(ids: examples.map { $0.ids + Array(repeating: pad, count: length - $0.ids.count) },
                     labels: examples.map { $0.labels + Array(repeating: -100, count: length - $0.labels.count) },
                     lengths: examples.map(\.ids.count))
    }

    /// A DPO batch as TRL concatenates it: rows `[chosen₀ … chosenₙ, rejected₀ … rejectedₙ]`, each the
    /// prompt followed by the completion; labels mark the completion tokens (the loss sums their log-probs).
    public static func dpo(_ pairs: [PreferenceExample], pad: Int32) -> Batch {
        let rows = pairs.map { ($0.prompt, $0.chosen) } + pairs.map { ($0.prompt, $0.rejected) }
        let examples = rows.map { p, c in SFTExample(ids: p + c, labels: Array(repeating: -100, count: p.count) + c.map(Int.init)) }
        return sft(examples, pad: pad)
    }
}
