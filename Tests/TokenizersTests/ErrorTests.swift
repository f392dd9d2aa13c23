import Foundation
import Testing
@testable import Tokenizers

/// Hostile and unsupported `tokenizer.json` files: one line naming the key path or position.
@Suite("tokenizer.json errors")
struct ErrorTests {
    static let minimal = """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
        """

    /// A file with an empty BPE model and the given extra top-level members.
    func withEmptyModel(_ members: String) -> String {
        #"{"model": {"type": "BPE", "vocab": {}, "merges": []}, "# + members + "}"
    }

    func expectError(_ json: String, _ fragments: [String], code: TokenizerError.Code? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Tokenizer(data: Data(json.utf8))
            Issue.record("loaded a bad tokenizer.json", sourceLocation: sourceLocation)
        } catch let error as TokenizerError {
            for f in fragments {
                #expect(error.description.contains(f), "'\(error)' does not mention '\(f)'",
                        sourceLocation: sourceLocation)
            }
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("tokenizer.json: "), sourceLocation: sourceLocation)
            if let code { #expect(error.code == code, sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a minimal BPE file loads and merges")
    func minimalLoads() throws {
        let tok = try Tokenizer(data: Data(Self.minimal.utf8))
        #expect(tok.encode("ab").ids == [2])
        #expect(tok.encode("ba").ids == [1, 0])
        #expect(tok.vocabSize == 3)
    }

    @Test("a wrong-typed merge names model.merges[i]")
    func badMerge() {
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", 17]}}"#,
                    ["model.merges[1]", "expected a string or a pair of strings"], code: .invalidValue)
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a"]]}}"#,
                    ["model.merges[0]", "expected a string or a pair of strings"])
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b c"]}}"#,
                    ["model.merges[0]"])
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#,
                    ["model.merges[0]", "'ab'", "not in the vocabulary"])
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a x"]}}"#,
                    ["model.merges[0]", "'x'"])
    }

    @Test("wrong-typed values name their key path")
    func wrongTypes() {
        expectError(#"{"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}}"#,
                    ["model.vocab['a']", "token id"])
        expectError(#"{"model": {"type": "BPE", "vocab": [], "merges": []}}"#, ["model.vocab", "expected an object"])
        expectError(#"{"model": {"type": "BPE", "vocab": {}, "merges": [], "byte_fallback": "yes"}}"#,
                    ["model.byte_fallback", "expected a boolean"])
        expectError(withEmptyModel(#""added_tokens": [{"id": 0}]"#),
                    ["added_tokens[0].content", "missing"])
        expectError(withEmptyModel(#""normalizer": {"type": "Sequence", "normalizers": "#
                                   + #"[{"type": "Replace", "pattern": {"String": " "}}]}"#),
                    ["normalizer.normalizers[0].content", "missing"])
        expectError(withEmptyModel(#""pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "#
                                   + #""behavior": "Sideways"}"#),
                    ["pre_tokenizer.behavior", "Sideways"])
        expectError("[1, 2]", ["expected an object"])
        expectError(#"{"normalizer": null}"#, ["model", "missing"])
    }

    @Test("other model types are refused by name")
    func otherModels() {
        for type in ["WordPiece", "Unigram", "WordLevel"] {
            expectError(#"{"model": {"type": "\#(type)", "vocab": {}}}"#, ["model.type", type, "not supported"],
                        code: .unsupported)
        }
        expectError(#"{"model": {"type": "Mystery", "vocab": {}}}"#, ["model.type", "Mystery"])
        expectError(#"{"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}}"#, ["model.dropout"])
    }

    @Test("unknown component types name the type and key path")
    func unknownComponents() {
        expectError(withEmptyModel(#""normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, "#
                                   + #"{"type": "Precompiled", "precompiled_charsmap": ""}]}"#),
                    ["normalizer.normalizers[1].type", "Precompiled"], code: .unsupported)
        expectError(withEmptyModel(#""pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Fancy"}]}"#),
                    ["pre_tokenizer.pretokenizers[0].type", "Fancy"])
        expectError(withEmptyModel(#""post_processor": {"type": "Nope"}"#),
                    ["post_processor.type", "Nope"])
        expectError(withEmptyModel(#""decoder": {"type": "CTC"}"#),
                    ["decoder.type", "CTC"])
        expectError(withEmptyModel(#""post_processor": {"type": "TemplateProcessing", "#
                                   + #""single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "#
                                   + #""special_tokens": {}}"#),
                    ["post_processor.single", "<s>"])
    }

    @Test("unsupported regex syntax is refused with the pattern named")
    func regexRefused() {
        for pattern in [#"(?<=a)b"#, #"\k<x>"#, #"[[:alpha:]]"#, #"(a"#, #"a)"#, #"(a*)*"#, #"\p{Greek}"#, #"[a&&b]"#] {
            let escaped = pattern.replacingOccurrences(of: "\\", with: "\\\\")
            expectError(withEmptyModel(#""pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\#(escaped)"}, "#
                                       + #""behavior": "Isolated", "invert": false}"#),
                        ["pre_tokenizer.pattern.Regex", "not supported"], code: .unsupported)
        }
    }

    @Test("truncated or broken JSON gives the position")
    func truncated() throws {
        let url = fixtures.appendingPathComponent("tokenizers/qwen2/tokenizer.json")
        let full = try Data(contentsOf: url)
        for cut in [1, 100, full.count / 3, full.count / 2, full.count - 2] {
            expectError(String(decoding: full.prefix(cut), as: UTF8.self), ["invalid JSON", "end of file"],
                        code: .invalidJSON)
        }
        expectError(#"{"model": {"type": "BPE",, "vocab": {}}}"#, ["invalid JSON at line 1, column 26 (byte 25)"])
        expectError("{\n  \"model\": tru\n}", ["line 2, column 12"])
        expectError(#"{"a": "\ud800"}"#, ["surrogate"])
        expectError("{\"a\": \"\u{01}\"}", ["control character"])
        expectError("{\"a\": 1} x", ["after the top-level value"])
        expectError(String(repeating: "[", count: 100_000), ["nesting"])
    }

    @Test("invalid UTF-8 bytes to encode give the byte offset; valid bytes equal the String API")
    func invalidUTF8() throws {
        let tok = try Loaded.tokenizer("llama3")
        for (bytes, at) in [([0x61, 0xFF, 0x62] as [UInt8], 1), ([0x61, 0x62, 0xE2, 0x82], 2), ([0xC0, 0x80], 0),
                            ([0xED, 0xA0, 0x80], 0), ([0x61, 0xF4, 0x90, 0x80, 0x80], 1)] {
            #expect(throws: TokenizerError(.invalidInput, path: "input", "invalid UTF-8 at byte \(at)")) {
                try tok.encode(utf8: bytes)
            }
        }
        let text = "Héllo 👍🏽 мир\n"
        #expect(try tok.encode(utf8: Array(text.utf8)) == tok.encode(text))
    }

    @Test("missing files are reported by path")
    func missingFile() {
        let url = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        #expect(throws: TokenizerError(.notFound, path: url.path, "no such file")) { try Tokenizer(contentsOf: url) }
    }
}

/// Vocabularies are byte-exact maps in the library: canonically equivalent spellings are distinct
/// tokens (expected values from tokenizers 0.23.3: `encode("e\u{301}é x").ids == [1, 0, 4]`,
/// vocabulary size 5).
@Suite("Byte-exact vocabulary")
struct ByteExactVocabularyTests {
    @Test("é and e + U+0301 are different tokens")
    func canonicalEquivalents() throws {
        let json = #"{"version": "1.0", "model": {"type": "BPE", "#
            + #""vocab": {"é": 0, "e\u0301": 1, "e": 2, "\u0301": 3, "x": 4}, "merges": ["e \u0301"]}}"#
        let tok = try Tokenizer(data: Data(json.utf8))
        #expect(tok.encode("e\u{301}é x").ids == [1, 0, 4])
        #expect(tok.vocabSize == 5)
        #expect(tok.tokenToId("é") == 0)
        #expect(tok.tokenToId("e\u{301}") == 1)
    }
}
