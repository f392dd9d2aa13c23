import Foundation
import Jinja
import Testing

/// Values against Python: float repr, json.loads/json.dumps, and the JSON parser's errors.
@Suite("Values and JSON")
struct ValueTests {
    static let references: Value = (try? loadJSON("templates/references.json")) ?? .missing

    @Test("floats print as Python's repr (1000 values)")
    func floatRepr() throws {
        let cases = ValueTests.references["floats"].arrayValue
        #expect(cases.count == 1000)
        for c in cases {
            let pair = c.arrayValue
            let bits = try #require(UInt64(pair[0].stringValue ?? "", radix: 16))
            let expected = try #require(pair[1].stringValue)
            let rendered = try Template("{{ x }}").render(["x": .double(Double(bitPattern: bits))])
            #expect(rendered == expected, "bits \(pair[0])")
            #expect(try Value.double(Double(bitPattern: bits)).toJSON() == expected, "bits \(pair[0])")
        }
    }

    @Test("parse then dump matches json.dumps(json.loads(text)), keys in order")
    func jsonRoundTrip() throws {
        let cases = ValueTests.references["json"].arrayValue
        #expect(cases.count >= 10)
        for c in cases {
            let input = try #require(c["input"].stringValue)
            let value = try Value.parseJSON(input)
            #expect(try value.toJSON() == c["dumps"].stringValue, "\(input)")
            #expect(try value.toJSON(indent: 2) == c["dumps_indent_2"].stringValue, "\(input)")
        }
    }

    @Test("object keys keep insertion order; a repeated key keeps its first place and last value")
    func objectOrder() throws {
        let value = try Value.parseJSON(#"{"b": 1, "a": 2, "b": 3}"#)
        guard case .object(let o) = value else {
            Issue.record("not an object")
            return
        }
        #expect(o.keys == ["b", "a"])
        #expect(o["b"] == .int(3))
    }

    @Test("malformed JSON gives one line with line and column")
    func jsonErrors() {
        let bad = [
            "", "{", "[1,]", "{\"a\" 1}", "tru", "01", "1.", "\"abc", "\"\\x\"", "[1] 2", "{\"a\":1,}", "\u{1}",
            "\"a\u{0A}b\"", "-", "1e", "{1: 2}",
        ]
        for text in bad {
            do {
                _ = try Value.parseJSON(text)
                Issue.record("parsed \(text.debugDescription)")
            } catch let error as JSONParseError {
                #expect(!error.description.contains("\n"))
                #expect(error.line >= 1)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        do {
            _ = try Value.parseJSON("[\n  1,\n  2 3]")
        } catch let error as JSONParseError {
            #expect(error.line == 3)
            #expect(error.column == 5)
        } catch {
            Issue.record("unexpected error \(error)")
        }
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { try Value.parseJSON(deep) }
    }

    @Test("values that JSON cannot hold are refused by toJSON")
    func jsonRefuses() {
        #expect(throws: TemplateError.self) { try Value.missing.toJSON() }
        #expect(throws: TemplateError.self) { try Value.array([.missing]).toJSON() }
    }
}
