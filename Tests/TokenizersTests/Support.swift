import Foundation
import Testing
@testable import Tokenizers

/// `fixtures/` of the repository (three folders up from this file).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures")

let tokenizerStyles = ["llama3", "qwen2", "cohere", "sentencepiece"]

/// Reads a JSON fixture into Foundation-style values (`[String: Any]`, `[Any]`, `String`, `Int`,
/// `Double`, `Bool`, `NSNull`). Uses the package's strict parser: Foundation's JSONSerialization on
/// Linux drops a leading U+FEFF from strings, which the reference texts contain.
func loadJSON(_ url: URL) throws -> Any {
    func convert(_ v: JSON) -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d as Any
        case .string(let s): return s
        case .array(let items): return items.map(convert)
        case .object(let pairs):
            var out: [String: Any] = [:]
            for (k, value) in pairs { out[k] = convert(value) }
            return out
        }
    }
    return convert(try JSONParser.parse(Data(contentsOf: url), file: url.lastPathComponent))
}

/// Loaded tokenizers, shared by the tests of a process.
enum Loaded {
    static let byStyle: [String: Tokenizer] = {
        var out: [String: Tokenizer] = [:]
        for style in tokenizerStyles {
            let url = fixtures.appendingPathComponent("tokenizers/\(style)/tokenizer.json")
            if let t = try? Tokenizer(contentsOf: url) { out[style] = t }
        }
        return out
    }()

    static func tokenizer(_ style: String) throws -> Tokenizer {
        try #require(byStyle[style], "tokenizer \(style) failed to load")
    }
}

/// Converts byte offsets into the character offsets the Python binding reports (the library's
/// `BytesToCharOffsetConverter`).
func charOffsets(_ text: String, _ offsets: [Range<Int>]) -> [[Int]] {
    var map: [Int: Int] = [:]
    var byte = 0
    var chars = 0
    for (i, ch) in text.unicodeScalars.enumerated() {
        for _ in 0..<String(ch).utf8.count {
            map[byte] = i
            byte += 1
        }
        chars = i + 1
    }
    return offsets.map { r in
        if r.isEmpty {
            let c = map[r.lowerBound] ?? (r.lowerBound == byte ? chars : r.lowerBound)
            return [c, c]
        }
        if let s = map[r.lowerBound] {
            if let e = map[r.upperBound] { return [s, e] }
            let last = map[r.upperBound - 1] ?? s
            return [s, last + 1]
        }
        return [r.lowerBound == r.upperBound ? 0 : -1, r.lowerBound == r.upperBound ? 0 : -1]
    }
}

/// A short description of where two sequences first differ.
func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> String {
    for i in 0..<min(a.count, b.count) where a[i] != b[i] {
        return "at \(i): \(a[i]) vs \(b[i]) (counts \(a.count), \(b.count))"
    }
    return "counts \(a.count) vs \(b.count)"
}
