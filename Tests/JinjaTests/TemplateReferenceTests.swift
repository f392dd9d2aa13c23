import Foundation
import Jinja
import Testing

/// The presets mixmerge writes and feature snippets, against real jinja2 configured as transformers does
/// (`fixtures/templates/references.json`, made by `tools/make_template_references.py`).
@Suite("Presets and snippets against jinja2")
struct TemplateReferenceTests {
    static let references: Value = (try? loadJSON("templates/references.json")) ?? .missing

    static let snippetNames: [String] = references["snippets"].arrayValue.compactMap { $0["name"].stringValue }
    static let presetNames: [String] = references["presets"].arrayValue.compactMap { $0["name"].stringValue }

    @Test("the reference file is there")
    func present() {
        #expect(TemplateReferenceTests.snippetNames.count >= 90)
        #expect(Set(TemplateReferenceTests.presetNames) == ["chatml", "llama3", "alpaca", "mistral"])
    }

    @Test("preset", arguments: presetNames)
    func preset(_ name: String) throws {
        let entry = try #require(
            TemplateReferenceTests.references["presets"].arrayValue.first { $0["name"].stringValue == name })
        let template = try ChatTemplate(try #require(entry["template"].stringValue))
        let cases = entry["cases"].arrayValue
        #expect(!cases.isEmpty)
        for c in cases {
            var tokens: [String: String] = [:]
            for (k, v) in c["special_tokens"].objectValue.pairs { tokens[k] = v.stringValue }
            let label = "\(name) \(c["name"]) agp=\(c["add_generation_prompt"])"
            do {
                let text = try template.render(
                    messages: c["messages"], addGenerationPrompt: c["add_generation_prompt"].boolValue,
                    specialTokens: tokens)
                #expect(!c["raises"].boolValue, "\(label) rendered but jinja2 raised")
                #expect(text == c["text"].stringValue, "\(label)")
            } catch {
                #expect(c["raises"].boolValue, "\(label): \(error)")
            }
        }
    }

    @Test("snippet", arguments: snippetNames)
    func snippet(_ name: String) throws {
        let entry = try #require(
            TemplateReferenceTests.references["snippets"].arrayValue.first { $0["name"].stringValue == name })
        let source = try #require(entry["template"].stringValue)
        var context: [String: Value] = [:]
        for (k, v) in entry["context"].objectValue.pairs { context[k] = v }
        do {
            let text = try Template(source).render(context)
            if entry["raises"].boolValue {
                Issue.record("rendered \(text.debugDescription) but jinja2 raised \(entry["error"])")
            } else {
                #expect(text == entry["text"].stringValue)
                #expect(Array(text.utf8) == Array((entry["text"].stringValue ?? "").utf8))
            }
        } catch let error as TemplateError {
            guard entry["raises"].boolValue else {
                Issue.record("\(error)")
                return
            }
            #expect(!error.description.contains("\n"))
            if case .int(let line) = entry["line"] { #expect(error.line == line, "\(error)") }
            switch entry["error_type"].stringValue {
            case "UndefinedError":
                #expect(error.kind == .undefined)
                #expect(error.message == entry["error"].stringValue)
            case "TemplateError":
                #expect(error.kind == .raised)
                #expect(error.message == entry["error"].stringValue)
            case "TypeError":
                #expect(error.kind == .type)
                #expect(error.message == entry["error"].stringValue)
            case "SecurityError":
                #expect(error.kind == .security)
            case "TemplateSyntaxError", "TemplateAssertionError":
                #expect(error.kind == .syntax || error.kind == .unsupported)
            default:
                break
            }
        }
    }
}

/// What `apply_chat_template` does around a template (None keys dropped, reasoning aliases, `tools` and
/// `documents` as None, extra variables over special tokens), against transformers' `render_jinja_template`.
@Suite("Chat template glue against transformers")
struct ChatGlueTests {
    @Test("glue cases")
    func glue() throws {
        let glue = TemplateReferenceTests.references["chat_glue"]
        let template = try ChatTemplate(try #require(glue["template"].stringValue))
        let cases = glue["cases"].arrayValue
        #expect(cases.count >= 4)
        for c in cases {
            var tokens: [String: String] = [:]
            for (k, v) in c["special_tokens"].objectValue.pairs { tokens[k] = v.stringValue }
            var extra: [String: Value] = [:]
            for (k, v) in c["extra"].objectValue.pairs { extra[k] = v }
            let tools: Value? = c["tools"] == .none ? nil : c["tools"]
            let text = try template.render(
                messages: c["messages"], tools: tools, addGenerationPrompt: true, specialTokens: tokens, extra: extra)
            #expect(text == c["text"].stringValue, "\(c["name"])")
        }
    }

    @Test("messages that are not a list of objects are refused with one line")
    func badMessages() throws {
        let template = try ChatTemplate("{{ messages }}")
        for bad: Value in ["text", ["not an object"], .none] {
            #expect(throws: TemplateError.self) { try template.render(messages: bad, addGenerationPrompt: false) }
        }
    }
}
