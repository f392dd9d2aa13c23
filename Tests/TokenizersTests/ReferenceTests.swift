import Foundation
import Testing
@testable import Tokenizers

/// Every reference case of every fixture style, as produced by the `tokenizers` library.
@Suite("Reference encodings")
struct ReferenceTests {
    @Test("ids, tokens and decodes match tokenizers for every case", arguments: tokenizerStyles)
    func referenceCases(style: String) throws {
        let tok = try Loaded.tokenizer(style)
        let ref = try #require(try loadJSON(fixtures.appendingPathComponent("tokenizers/\(style)/reference.json"))
            as? [String: Any])
        let cases = try #require(ref["cases"] as? [[String: Any]])
        #expect(cases.count > 100)
        var failures = 0
        for c in cases {
            let text = try #require(c["text"] as? String)
            let name = c["name"] as? String ?? text
            let ids = (c["ids"] as? [Int] ?? []).map(Int32.init)
            let idsNoSpecial = (c["ids_no_special"] as? [Int] ?? []).map(Int32.init)
            let e = tok.encode(text)
            let e2 = tok.encode(text, addSpecialTokens: false)
            let ok = e.ids == ids && e.tokens == (c["tokens"] as? [String] ?? [])
                && e2.ids == idsNoSpecial && e2.tokens == (c["tokens_no_special"] as? [String] ?? [])
                && tok.decode(ids) == c["decoded"] as? String
                && tok.decode(ids, skipSpecialTokens: true) == c["decoded_skip_special"] as? String
            if !ok {
                failures += 1
                if failures <= 5 {
                    Issue.record("""
                        \(style) case '\(name)': ids \(e.ids) vs \(ids); no-special \(e2.ids == idsNoSpecial); \
                        decoded '\(tok.decode(ids))' vs '\(c["decoded"] as? String ?? "")'; \
                        skip '\(tok.decode(ids, skipSpecialTokens: true))' \
                        vs '\(c["decoded_skip_special"] as? String ?? "")'
                        """)
                }
            }
        }
        #expect(failures == 0, "\(failures) of \(cases.count) cases differ")
        if let size = ref["vocab_size_with_added"] as? Int { #expect(tok.vocabSize == size) }
    }

    @Test("the fixture models' own tokenizer (Metaspace) matches its reference")
    func modelTokenizer() throws {
        let tok = try Tokenizer(contentsOf: fixtures.appendingPathComponent("models/_tokenizer/tokenizer.json"))
        let ref = try #require(try loadJSON(fixtures.appendingPathComponent("models/tokenizer_reference.json"))
            as? [String: Any])
        let cases = try #require(ref["cases"] as? [[String: Any]])
        #expect(!cases.isEmpty)
        for c in cases {
            let text = try #require(c["text"] as? String)
            let ids = (c["input_ids"] as? [Int] ?? []).map(Int32.init)
            let e = tok.encode(text)
            #expect(e.ids == ids, "\(text)")
            #expect(e.tokens == c["tokens"] as? [String], "\(text)")
            #expect(tok.decode(ids) == c["decoded"] as? String, "\(text)")
        }
        if let size = ref["vocab_size"] as? Int { #expect(tok.vocabSize == size) }
        #expect(tok.tokenToId("<bos>") == Int32(ref["bos_id"] as? Int ?? -1))
        #expect(tok.tokenToId("<eos>") == Int32(ref["eos_id"] as? Int ?? -1))
    }
}
