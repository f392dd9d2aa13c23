import Foundation
import Testing
@testable import Parquet

/// The JSON text of values: the layout Python's `json.dumps` gives the project's JSONL files.
@Suite struct JSONTextTests {
    /// `fixtures/parquet/float-reprs.txt`: a double's bits and Python's `repr` of it.
    @Test func floatsAreWrittenAsPythonRepr() throws {
        let text = try String(contentsOfFile: Fixtures.path("float-reprs.txt"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count > 500)
        for line in lines {
            let parts = line.split(separator: " ")
            let bits = try #require(UInt64(parts[0], radix: 16))
            #expect(ParquetValue.double(Double(bitPattern: bits)).jsonText() == String(parts[1]), "\(line)")
        }
    }

    @Test func stringsAreEscapedLikeJSONDumps() {
        // json.dumps("a\"b\\c\n\t\u{1}é🙂\u{7f}", ensure_ascii=False)
        let value = ParquetValue.string("a\"b\\c\n\t\u{1}é🙂\u{7f}")
        #expect(value.jsonText() == #""a\"b\\c\n\t\u0001é🙂\#u{7f}""#)
    }

    @Test func nonFiniteFloatsAndBytes() {
        let record = ParquetRecord(fields: [
            ParquetField(name: "nan", value: .double(.nan)),
            ParquetField(name: "inf", value: .double(-.infinity)),
            ParquetField(name: "b", value: .bytes([0xFF, 0x00, 0x41])),
            ParquetField(name: "l", value: .list([.int(-1), .bool(true), .null, .object([])])),
        ])
        // base64.b64encode(b"\xff\x00A") == b"/wBB"
        #expect(record.jsonText() == #"{"nan":null,"inf":null,"b":"/wBB","l":[-1,true,null,{}]}"#)
        #expect(record["b"] == .bytes([0xFF, 0x00, 0x41]))
        #expect(record["missing"] == nil)
    }

    /// The referee comparison itself: ints and floats, key order and the sign of zero all count.
    @Test func structuralComparisonIsStrict() throws {
        #expect(try JSON.parse(#"{"a":1}"#) != JSON.parse(#"{"a":1.0}"#))
        #expect(try JSON.parse(#"{"a":1,"b":2}"#) != JSON.parse(#"{"b":2,"a":1}"#))
        #expect(try JSON.parse("0.0") != JSON.parse("-0.0"))
        #expect(try JSON.parse(#"["x\u00e9"]"#) == JSON.parse(#"["xé"]"#))
        #expect(try JSON.parse(#"{"a": [1, null], "b": "\ud83d\ude42"}"#) == JSON.parse(#"{"a":[1,null],"b":"🙂"}"#))
    }
}
