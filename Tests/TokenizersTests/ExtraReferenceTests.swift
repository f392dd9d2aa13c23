import Foundation
import Testing
@testable import Tokenizers

/// References from `tools/make_tokenizer_offsets.py` (the real `tokenizers` library): offsets,
/// hostile strings, and pipeline variants the four fixture styles do not use.
@Suite("Extra references: offsets, hostile strings, pipeline variants")
struct ExtraReferenceTests {
    static let extra = fixtures.appendingPathComponent("tokenizers_extra")

    static func flatOffsets(_ any: Any?) -> [[Int]] {
        let flat = any as? [Int] ?? []
        return stride(from: 0, to: flat.count - 1, by: 2).map { [flat[$0], flat[$0 + 1]] }
    }

    @Test("offsets and single-id decodes of every reference case match the library's", arguments: tokenizerStyles)
    func caseOffsets(style: String) throws {
        let tok = try Loaded.tokenizer(style)
        let offsets = try #require(try loadJSON(Self.extra.appendingPathComponent("offsets.json")) as? [String: Any])
        let styles = try #require(offsets["styles"] as? [String: Any])
        let mine = try #require(styles[style] as? [String: Any])
        let ref = try #require(try loadJSON(fixtures.appendingPathComponent("tokenizers/\(style)/reference.json"))
            as? [String: Any])
        let cases = try #require(ref["cases"] as? [[String: Any]])
        let offsetCases = try #require(mine["cases"] as? [[String: Any]])
        #expect(cases.count == offsetCases.count)
        var bad = 0
        for (c, o) in zip(cases, offsetCases) {
            let text = try #require(c["text"] as? String)
            let e = tok.encode(text)
            let singles = o["single_decodes"] as? [String] ?? []
            #expect(e.ids.map { tok.decode([$0]) } == singles, "\(style) '\(o["name"] ?? "")' single-id decodes")
            if charOffsets(text, e.offsets) != Self.flatOffsets(o["offsets"]) {
                bad += 1
                if bad <= 3 {
                    let diff = firstDifference(charOffsets(text, e.offsets), Self.flatOffsets(o["offsets"]))
                    Issue.record("\(style) '\(o["name"] ?? "")': \(diff)")
                }
            }
        }
        #expect(bad == 0)
    }

    @Test("hostile strings (long runs, 10k-character words, mixed scripts) match", arguments: tokenizerStyles)
    func hostile(style: String) throws {
        let tok = try Loaded.tokenizer(style)
        let offsets = try #require(try loadJSON(Self.extra.appendingPathComponent("offsets.json")) as? [String: Any])
        let styles = try #require(offsets["styles"] as? [String: Any])
        let mine = try #require(styles[style] as? [String: Any])
        let hostile = try #require(mine["hostile"] as? [[String: Any]])
        #expect(hostile.count >= 15)
        for h in hostile {
            let text = try #require(h["text"] as? String)
            let name = h["name"] as? String ?? ""
            let ids = (h["ids"] as? [Int] ?? []).map(Int32.init)
            let e = tok.encode(text)
            #expect(e.ids == ids, "\(style) \(name): \(firstDifference(e.ids, ids))")
            let off = charOffsets(text, e.offsets)
            let refOff = Self.flatOffsets(h["offsets"])
            #expect(off == refOff, "\(style) \(name) offsets \(firstDifference(off, refOff))")
            if let same = h["decoded_skip_special"] as? Bool, same {
                #expect(tok.decode(ids, skipSpecialTokens: true) == text, "\(style) \(name) decode")
            } else if let d = h["decoded_skip_special"] as? String {
                #expect(tok.decode(ids, skipSpecialTokens: true) == d, "\(style) \(name) decode")
            }
        }
    }

    /// Applies a variant's patch (top-level keys replaced, `model` keys merged) to a parsed base file.
    static func patched(_ base: JSON, _ patch: JSON) -> JSON {
        guard case .object(var pairs) = base, case .object(let changes) = patch else { return base }
        for (key, value) in changes {
            if key == "model", let i = pairs.firstIndex(where: { $0.key == "model" }),
               case .object(var model) = pairs[i].value, case .object(let modelChanges) = value {
                for (mk, mv) in modelChanges {
                    if let j = model.firstIndex(where: { $0.key == mk }) {
                        model[j].value = mv
                    } else {
                        model.append((mk, mv))
                    }
                }
                pairs[i].value = .object(model)
            } else if let i = pairs.firstIndex(where: { $0.key == key }) {
                pairs[i].value = value
            } else {
                pairs.append((key, value))
            }
        }
        return .object(pairs)
    }

    static func check(_ tok: Tokenizer, texts: [String], cases: [[String: Any]], label: String) throws -> Int {
        var bad = 0
        for (text, c) in zip(texts, cases) {
            let ids = (c["ids"] as? [Int] ?? []).map(Int32.init)
            let e = tok.encode(text)
            let e2 = tok.encode(text, addSpecialTokens: false)
            var problems: [String] = []
            if e.ids != ids { problems.append("ids \(firstDifference(e.ids, ids))") }
            if let t = c["tokens"] as? [String], e.tokens != t {
                problems.append("tokens \(firstDifference(e.tokens, t))")
            }
            if e2.ids != (c["ids_no_special"] as? [Int] ?? []).map(Int32.init) { problems.append("ids_no_special") }
            let off = charOffsets(text, e.offsets)
            if off != flatOffsets(c["offsets"]) {
                problems.append("offsets \(firstDifference(off, flatOffsets(c["offsets"])))")
            }
            if let d = c["decoded"] as? String, tok.decode(ids) != d {
                problems.append("decoded '\(tok.decode(ids))' vs '\(d)'")
            }
            if let d = c["decoded_skip_special"] as? String, tok.decode(ids, skipSpecialTokens: true) != d {
                problems.append("decoded_skip '\(tok.decode(ids, skipSpecialTokens: true))' vs '\(d)'")
            }
            if !problems.isEmpty {
                bad += 1
                if bad <= 2 { Issue.record("\(label) '\(text.prefix(40))': \(problems.joined(separator: "; "))") }
            }
        }
        return bad
    }

    @Test("pipeline variants (Metaspace, Split behaviours, normalizers, added-token flags, processors, decoders)")
    func variants() throws {
        let data = try Data(contentsOf: Self.extra.appendingPathComponent("variants.json"))
        let parsed = try JSONParser.parse(data, file: "variants.json")
        let doc = try #require(try loadJSON(Self.extra.appendingPathComponent("variants.json")) as? [String: Any])
        let texts = try #require(doc["texts"] as? [String])
        guard case .array(let variantValues)? = parsed["variants"] else {
            Issue.record("no variants")
            return
        }
        let variantDicts = try #require(doc["variants"] as? [[String: Any]])
        #expect(variantDicts.count >= 40)
        var bases: [String: JSON] = [:]
        var failed: [String] = []
        for (value, dict) in zip(variantValues, variantDicts) {
            let name = dict["name"] as? String ?? ""
            let baseName = dict["base"] as? String ?? ""
            if bases[baseName] == nil {
                let url = fixtures.appendingPathComponent("tokenizers/\(baseName)/tokenizer.json")
                bases[baseName] = try JSONParser.parse(Data(contentsOf: url), file: "tokenizer.json")
            }
            let base = try #require(bases[baseName])
            let json = Self.patched(base, value["patch"] ?? .null)
            let tok: Tokenizer
            do {
                tok = try Tokenizer(json: json, fileName: "\(name).json")
            } catch {
                Issue.record("\(name): \(error)")
                failed.append(name)
                continue
            }
            if let size = dict["vocab_size"] as? Int, tok.vocabSize != size {
                Issue.record("\(name): vocab size \(tok.vocabSize) vs \(size)")
            }
            let cases = try #require(dict["cases"] as? [[String: Any]])
            if try Self.check(tok, texts: texts, cases: cases, label: name) > 0 { failed.append(name) }
        }
        #expect(failed.isEmpty, "variants with differences: \(failed)")
    }

    @Test("a BPE with continuing_subword_prefix and end_of_word_suffix (trained by the library)")
    func subwordAffixes() throws {
        let data = try Data(contentsOf: Self.extra.appendingPathComponent("subword.json"))
        let parsed = try JSONParser.parse(data, file: "subword.json")
        let doc = try #require(try loadJSON(Self.extra.appendingPathComponent("subword.json")) as? [String: Any])
        let tok = try Tokenizer(json: try #require(parsed["tokenizer"]), fileName: "subword.json")
        let texts = try #require(doc["texts"] as? [String])
        let cases = try #require(doc["cases"] as? [[String: Any]])
        #expect(try Self.check(tok, texts: texts, cases: cases, label: "subword") == 0)
        #expect(tok.vocabSize == doc["vocab_size"] as? Int)
    }
}
