import Foundation
import Jinja
import Testing

/// The repository's `fixtures` folder (three levels above this file).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

/// Reads and parses a JSON fixture with the order-preserving parser.
func loadJSON(_ relativePath: String) throws -> Value {
    let url = fixtures.appendingPathComponent(relativePath)
    let data = try Data(contentsOf: url)
    return try Value.parseJSON(String(decoding: data, as: UTF8.self))
}

extension Value {
    subscript(key: String) -> Value {
        if case .object(let o) = self, let v = o[key] { return v }
        return .missing
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var arrayValue: [Value] {
        if case .array(let a) = self { return a }
        return []
    }

    var boolValue: Bool {
        if case .bool(let b) = self { return b }
        return false
    }

    var objectValue: Value.Object {
        if case .object(let o) = self { return o }
        return Value.Object()
    }
}

/// The special tokens transformers passes to a chat template (`special_tokens_map`): the named
/// tokens of the config that are set, as strings.
func specialTokens(ofConfig config: Value) -> [String: String] {
    var tokens: [String: String] = [:]
    for name in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
        switch config[name] {
        case .string(let s): tokens[name] = s
        case .object(let o): if case .string(let s) = o["content"] ?? .none { tokens[name] = s }
        default: break
        }
    }
    return tokens
}
