import Datasets
import Foundation
import Testing

/// Parses `bytes` and hands the tape to `body` while the bytes are alive.
func withTape<T>(_ bytes: [UInt8], _ body: (JSONTape) throws -> T) throws -> T {
    try bytes.withUnsafeBufferPointer { b in
        var tape = JSONTape()
        try tape.parse(JSONBytes(base: b.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: b.count), 0..<b.count)
        return try body(tape)
    }
}

func parse(_ text: String) throws { try withTape(Array(text.utf8)) { _ in } }

func parseBytes(_ bytes: [UInt8]) throws { try withTape(bytes) { _ in } }

/// Decodes the string value of `{"k": …}` with our parser.
func decodedString(_ json: String) throws -> String {
    try withTape(Array(json.utf8)) { tape in
        guard let v = tape.member(0, "k"), tape[v].kind == .string else { return "<not a string>" }
        return tape.string(v)
    }
}

@Suite struct JSONParserTests {
    @Test func acceptsWhatFoundationAccepts() throws {
        let texts = [
            #"{"a": 1, "b": [true, false, null], "c": {"d": -1.5e3}, "e": ""}"#,
            #"[1, 2.0, -0, 1E+2, "x\ny", {}]"#,
            "  {\"k\" :\t\"v\" }\r\n",
        ]
        for t in texts {
            _ = try JSONSerialization.jsonObject(with: Data(t.utf8), options: [.fragmentsAllowed])
            #expect(throws: Never.self) { _ = try parse(t) }
        }
    }

    @Test(arguments: [
        #"{"a": 1,}"#, #"{"a" 1}"#, #"{a: 1}"#, #"[1 2]"#, #"{"a": 01}"#, #"{"a": 1.}"#, #"{"a": NaN}"#,
        #"{"a": "\x"}"#, #"{"a": "\u12G4"}"#, "{\"a\": \"line\nbreak\"}", #"{"a": tru}"#, #"{"a": 1} x"#, #"{"a": "open"#, "",
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { _ = try parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0x80]] {
            let bytes = Array(#"{"k": ""#.utf8) + bad + Array(#""}"#.utf8)
            #expect(throws: JSONSyntaxError.self) { _ = try parseBytes(bytes) }
        }
    }

    /// Strings with every kind of escape and non-ASCII text decode as Foundation decodes them.
    @Test func decodesStringsLikeFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "Z", " ", "\\n", "\\t", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00", "é", "प्र", "سؤ", "Вопрос", "😀", "\\b", "\\f", "\\r", "\\u0000"]
        for _ in 0..<300 {
            let n = Int.random(in: 0..<40, using: &generator)
            let body = (0..<n).map { _ in alphabet.randomElement(using: &generator)! }.joined()
            let json = "{\"k\": \"\(body)\"}"
            let expected = try #require((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])?["k"])
            #expect(try decodedString(json) == expected, "\(json)")
        }
    }

    @Test func tapeStructure() throws {
        try withTape(Array(#"{"a": [1, {"b": "x\ty"}, []], "c": null, "a2": "\u00e9"}"#.utf8)) { t in
            #expect(t.keys(0) == ["a", "c", "a2"])
            let a = try #require(t.member(0, "a"))
            #expect(t[a].kind == .array && t[a].count == 3)
            let items = t.elements(a)
            #expect(items.map { t[$0].kind } == [.number, .object, .array])
            #expect(t.string(items[0]) == "1")
            let b = try #require(t.member(items[1], "b"))
            #expect(t.string(b) == "x\ty" && t[b].escaped)
            #expect(t[try #require(t.member(0, "c"))].kind == .null)
            #expect(t.member(0, "missing") == nil)
            let e = try #require(t.member(0, "a2"))
            #expect(t.string(e) == "é" && t.characterCount(e) == 1)
        }
    }

    @Test func characterCountsMatchUnicodeScalars() throws {
        for text in ["", "abc", "héllo wörld, a longer line of text", "प्रश्न और उत्तर", "😀😀 mixed ascii and 😀", "Вопрос"] {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: ["k": text]), as: UTF8.self)
            let count = try withTape(Array(json.utf8)) { t in t.characterCount(t.member(0, "k")!) }
            #expect(count == text.unicodeScalars.count, "\(text)")
        }
    }

    @Test func loneSurrogateBecomesReplacementCharacter() throws {
        #expect(try decodedString(#"{"k": "a\ud800b"}"#) == "a\u{FFFD}b")
    }

    @Test func writerOutputParsesBackToTheSameStrings() throws {
        let strings = ["plain", "quote \" and \\ backslash", "control \u{1}\u{1F} tab\t nl\n", "ünïcødé 😀 प्रश्न", ""]
        var w = JSONWriter()
        w.beginObject()
        for (i, s) in strings.enumerated() { w.key("k\(i)"); w.string(s) }
        w.endObject()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: String])
        for (i, s) in strings.enumerated() { #expect(object["k\(i)"] == s) }
    }
}
