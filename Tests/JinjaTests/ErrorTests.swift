import Foundation
import Jinja
import Testing

/// Hostile and broken templates: one-line errors naming the line, never a crash.
@Suite("Template errors")
struct ErrorTests {
    func parseError(_ source: String, sourceLocation: SourceLocation = #_sourceLocation) -> TemplateError? {
        do {
            _ = try Template(source)
            Issue.record("parsed a broken template", sourceLocation: sourceLocation)
        } catch let error as TemplateError {
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    func renderError(
        _ source: String, _ context: [String: Value] = [:], sourceLocation: SourceLocation = #_sourceLocation
    )
        -> TemplateError?
    {
        do {
            let text = try Template(source).render(context)
            Issue.record("rendered \(text.debugDescription)", sourceLocation: sourceLocation)
        } catch let error as TemplateError {
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test("unterminated tags name the line where the tag opens")
    func unterminated() {
        let e1 = parseError("line one\nline two\n{{ oops ")
        #expect(e1?.line == 3)
        #expect(e1?.kind == .syntax)
        #expect(e1?.description.hasPrefix("chat template line 3: ") == true)
        #expect(parseError("a\n{% if x %}\nb\n{% for y in z %}")?.kind == .syntax)
        #expect(parseError("ok\n{# never closed")?.line == 2)
        #expect(parseError("{% raw %} no end")?.kind == .syntax)
        #expect(parseError("{{ 'unterminated }}")?.kind == .syntax)
        #expect(parseError("{{ (1, 2 }}")?.kind == .syntax)
        #expect(parseError("{% if true %}a{% endfor %}")?.kind == .syntax)
        #expect(parseError("{% endif %}")?.kind == .syntax)
    }

    @Test("unknown and unsupported statements, filters and tests are named with their line")
    func unknownNames() {
        let e = parseError("a\nb\n{% frobnicate x %}")
        #expect(e?.line == 3)
        #expect(e?.message == "unknown statement 'frobnicate'")
        let include = parseError("{% include 'other.jinja' %}")
        #expect(include?.kind == .unsupported)
        #expect(include?.message == "unsupported statement 'include'")
        let filter = parseError("1\n2\n3\n4\n5\n6\n{{ x | xmlattr }}")
        #expect(filter?.description == "chat template line 7: unsupported filter 'xmlattr'")
        #expect(parseError("{{ x is frobbed }}")?.message == "unsupported test 'frobbed'")
        #expect(parseError("{% for x in y recursive %}{% endfor %}")?.kind == .unsupported)
        #expect(parseError("{{ f(*args) }}")?.kind == .unsupported)
    }

    @Test("bad expressions")
    func badExpressions() {
        for source in [
            "{{ 1 + }}", "{{ }}", "{{ a b }}", "{{ [1, 2 }}", "{{ {'a' 1} }}", "{{ x. }}", "{{ 1 $ 2 }}",
            "{% set %}", "{% set x %}", "{% for in y %}{% endfor %}", "{% macro (a) %}{% endmacro %}",
            "{{ x is }}", "{{ a if }}", "{% if %}{% endif %}", "{{ 'a' | }}", "{{ 99999999999999999999 }}",
        ] {
            let e = parseError(source)
            #expect(e?.kind == .syntax, "\(source): \(String(describing: e))")
            #expect(e?.line == 1, "\(source)")
        }
    }

    @Test("runtime errors name the line of the failing tag")
    func runtimeLines() {
        let e = renderError(
            "a\n{% for m in messages %}\n{{ m.content + 1 }}\n{% endfor %}", ["messages": [["content": "x"]]])
        #expect(e?.line == 3)
        #expect(e?.kind == .type)
        let raised = renderError("\n\n{{ raise_exception('No system role') }}")
        #expect(raised?.kind == .raised)
        #expect(raised?.message == "No system role")
        #expect(raised?.line == 3)
        #expect(raised?.description == "chat template line 3: No system role")
        let named = renderError("{{ 1 // 0 }}")
        #expect(named?.description.hasPrefix("chat template line 1:") == true)
    }

    @Test("deep nesting is refused, not a stack overflow")
    func deepNesting() {
        let parens = String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
        #expect(parseError("{{ \(parens) }}")?.kind == .security)
        let lists = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(parseError("{{ \(lists) }}")?.kind == .security)
        let nots = String(repeating: "not ", count: 10_000) + "x"
        #expect(parseError("{{ \(nots) }}")?.kind == .security)
        let minus = String(repeating: "-", count: 10_000) + "1"
        #expect(parseError("{{ \(minus) }}")?.kind == .security)
        let ifs = String(repeating: "{% if true %}", count: 5_000) + String(repeating: "{% endif %}", count: 5_000)
        #expect(parseError(ifs)?.kind == .security)
        for chain in [" | trim", ".a", "[0]", "()", " + 1", " ~ 1", " * 1", " ** 1", " or 1", " and 1", " if 1"] {
            let source = "{{ x" + String(repeating: chain, count: 5_000) + " }}"
            #expect(parseError(source)?.kind == .security, "\(chain)")
        }
        let fine = "{{ x" + String(repeating: " | trim", count: 30) + " }}"
        #expect((try? Template(fine).render(["x": " a "])) == "a")
    }

    @Test("runaway recursion in macros is refused")
    func macroRecursion() {
        let e = renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(e?.kind == .security)
        let mutual = renderError(
            "{% macro a(n) %}{% if true %}{% for x in [1] %}{{ b(n) }}{% endfor %}{% endif %}{% endmacro %}"
                + "{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}")
        #expect(mutual?.kind == .security)
        // Allowed depth still works.
        let ok = try? Template(
            "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(20) }}"
        )
        .render([:])
        #expect(ok == "2019181716151413121110987654321")
    }

    @Test("huge ranges and repetitions are refused")
    func resourceLimits() {
        #expect(renderError("{{ range(10000000) | length }}")?.kind == .security)
        #expect(renderError("{{ 'x' * 1000000000 }}")?.kind == .security)
        #expect(renderError("{{ 2 ** 100 }}")?.kind == .unsupported)
        for source in [
            "{{ 'x' | center(1000000000) }}", "{{ 'x' | indent(1000000000) }}", "{{ [1] | tojson(indent=1000000000) }}",
            "{{ 'x'.ljust(1000000000) }}", "{{ '%1000000000d' % 1 }}", "{{ '%.1000000000f' % 1.0 }}",
            "{{ '{:>1000000000}'.format(1) }}"]
        {
            #expect(renderError(source)?.kind == .security, "\(source)")
        }
        #expect(renderError("{{ range(-9223372036854775807, 9223372036854775807) | length }}")?.kind == .security)
        #expect(renderError("{{ range(9223372036854775807, -9223372036854775807, -1) | length }}")?.kind == .security)
        #expect(renderError("{{ [1] | batch(1000000000000, 0) | list }}")?.kind == .security)
        #expect(renderError("{{ [0] * 1000000000 }}")?.kind == .security)
        // Deeply nested values built by a loop print without exhausting the stack.
        let nest = "{% set ns = namespace(v=[]) %}{% for i in range(20000) %}{% set ns.v = [ns.v] %}{% endfor %}"
        let printed = try? Template(nest + "{{ ns.v | length }}{{ (ns.v | string)[:5] }}").render([:])
        #expect(printed == "1[[[[[")
        #expect((try? Template(nest + "{{ ns.v == ns.v }}{{ [ns.v] | sort | length }}").render([:])) != nil)
        let loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        #expect(renderError(loops)?.kind == .security)
        let output = "{% for i in range(100000) %}{% for j in range(100) %}{{ 'x' * 50000 }}{% endfor %}{% endfor %}"
        #expect(renderError(output)?.kind == .security)
    }

    @Test("garbage input never crashes")
    func garbage() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("{}%#-+()[]'\"\\ \nabcif for endfor set x=1.|~*/:,é😀")
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let source = String((0..<length).map { _ in alphabet.randomElement(using: &generator) ?? " " })
            if let template = try? Template(source) {
                _ = try? template.render(["x": [1, 2], "y": "s"])
            }
        }
    }
}
