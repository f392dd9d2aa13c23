import Foundation
import Testing

@testable import Checkpoints

@Suite("JSON and config.json")
struct ModelFolderTests {
    @Test("JSON round-trips with key order and number text intact")
    func jsonRoundTrip() throws {
        let text = #"{"b": 1e-05, "a": [1, 2.50, true, null], "s": "x\"\u00e9\n"}"#
        let v = try JSONValue.parse(text)
        #expect(v["b"] == .number("1e-05"))
        #expect(v.objectValue?.map(\.0) == ["b", "a", "s"])
        #expect(v["s"]?.stringValue == "x\"é\n")
        #expect(try JSONValue.parse(v.serialized(indent: 2)) == v)
        #expect(v.serialized(indent: nil).hasPrefix(#"{"b":1e-05,"a":[1,2.50,true,null]"#))
        #expect(throws: JSONParseError.self) { try JSONValue.parse("{\"a\": }") }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 500)) }
    }

    @Test("transformers 4 keys are read and kept")
    func transformers4() throws {
        let text = #"{"architectures":["CohereForCausalLM"],"torch_dtype":"float16","rope_theta":8000000.0,"num_hidden_layers":32,"rope_scaling":null}"#
        var c = ModelConfig(json: try JSONValue.parse(text))
        #expect(c.dtypeKey == "torch_dtype" && c.dtypeName == "float16")
        #expect(c.ropeTheta == 8_000_000)
        #expect(c.layerCount == 32)
        c.setDType("bfloat16")
        c.setLayers(count: 40, sourceLayers: nil)
        #expect(c.json["torch_dtype"]?.stringValue == "bfloat16" && c.json["dtype"] == nil)
        #expect(c.json["num_hidden_layers"]?.intValue == 40)
    }

    @Test("transformers 5 keys are read; per-layer lists follow the layers")
    func transformers5() throws {
        let text = #"{"dtype":"bfloat16","num_hidden_layers":2,"layer_types":["sliding_attention","full_attention"],"rope_parameters":{"rope_type":"default","rope_theta":10000.0}}"#
        var c = ModelConfig(json: try JSONValue.parse(text))
        #expect(c.dtypeKey == "dtype")
        #expect(c.ropeTheta == 10000)
        #expect(c.ropeScaling?["rope_type"]?.stringValue == "default")
        c.setLayers(count: 3, sourceLayers: [0, 1, 1])
        #expect(c.json["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["sliding_attention", "full_attention", "full_attention"])
    }
}
