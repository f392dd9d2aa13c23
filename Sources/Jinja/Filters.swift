import Foundation

/// Evaluated arguments of a filter, test or method, read by position or by keyword.
struct CallArguments {
    var positional: [Value]
    var keywords: [(String, Value)]

    /// The argument at `index` (after the filtered value) or named `name`.
    func value(_ index: Int, _ name: String) -> Value? {
        if index >= 0 && index < positional.count { return positional[index] }
        return keywords.first { $0.0 == name }?.1
    }

    func string(_ index: Int, _ name: String) -> String? {
        if case .string(let s) = value(index, name) { return s }
        return nil
    }

    func bool(_ index: Int, _ name: String, default d: Bool) -> Bool {
        value(index, name)?.truthy ?? d
    }
}

/// The built-in filters: the set of names the parser accepts.
enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string",
        "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ]
}

extension Renderer {
    mutating func applyFilter(_ name: String, to value: Value, _ args: Arguments) throws -> Value {
        let (positional, keywords) = try evalArguments(args)
        return try filter(name, value, CallArguments(positional: positional, keywords: keywords))
    }

    /// A string the filter works on: Python's `str()` of the value (undefined gives "").
    private func text(_ v: Value) -> String { v.pythonStr }

    private func int(_ v: Value?, _ what: String) throws -> Int? {
        guard let v else { return nil }
        guard let i = v.integer else { throw typeError("\(what) must be an integer, not \(v.typeName)") }
        return i
    }

    /// Looks up a dotted attribute path (`a.b`, `0`) the way Jinja's `attribute=` arguments do.
    func attributePath(_ value: Value, _ path: Value) throws -> Value {
        if let i = path.integer { return try item(value, .int(i)) }
        var current = value
        for part in path.pythonStr.split(separator: ".", omittingEmptySubsequences: false) {
            if let i = Int(part) {
                current = try item(current, .int(i))
            } else {
                current = try item(current, .string(String(part)))
            }
            if case .undefined = current { return current }
        }
        return current
    }

    /// The sort key Jinja uses: strings lower-cased unless case-sensitive.
    private func sortKey(_ v: Value, caseSensitive: Bool) -> Value {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    private func sorted(_ items: [Value], key: (Value) throws -> Value, reverse: Bool) throws -> [Value] {
        let keyed = try items.map { (try key($0), $0) }
        var failure: TemplateError? = nil
        let result = keyed.enumerated().sorted { x, y in
            if failure != nil { return false }
            do {
                guard let o = try Operators.ordering(x.element.0, y.element.0) else {
                    // Python's sort compares a later item with an earlier one.
                    let (later, earlier) = x.offset > y.offset ? (x.element.0, y.element.0) : (y.element.0, x.element.0)
                    failure = typeError(
                        "'<' not supported between instances of '\(later.typeName)' and '\(earlier.typeName)'")
                    return false
                }
                if o == 0 || o == 2 { return x.offset < y.offset }
                return reverse ? o > 0 : o < 0
            } catch {
                failure = error as? TemplateError
                return false
            }
        }
        if let failure { throw failure }
        return result.map { $0.element.1 }
    }

    mutating func filter(_ name: String, _ value: Value, _ a: CallArguments) throws -> Value {
        switch name {
        case "abs":
            switch value {
            case .int(let i):
                guard i != Int.min else { throw typeError("integer overflow") }
                return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw typeError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "attr":
            return try attribute(value, a.string(0, "name") ?? "")
        case "batch":
            guard let size = try int(a.value(0, "linecount"), "batch size"), size > 0 else {
                throw typeError("batch size must be a positive integer")
            }
            let fill = a.value(1, "fill_with")
            try checkWidth(size)
            var rows: [Value] = []
            var row: [Value] = []
            for item in try iterate(value) {
                row.append(item)
                if row.count == size {
                    rows.append(.array(row))
                    row = []
                }
            }
            if !row.isEmpty {
                if let fill, !(fill == .none) {
                    while row.count < size { row.append(fill) }
                }
                rows.append(.array(row))
            }
            return .array(rows)
        case "capitalize":
            return .string(StringOps.capitalize(text(value)))
        case "center":
            let s = text(value)
            let width = try int(a.value(0, "width"), "width") ?? 80
            try checkWidth(width)
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            let margin = width - n
            let left = margin / 2 + (margin & width & 1)
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: margin - left))
        case "count", "length":
            switch value {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let x), .tuple(let x): return .int(x.count)
            case .object(let o): return .int(o.count)
            case .undefined: return .int(0)
            case .opaque(let o):
                if case .namespace(let id) = o.kind { return .int(namespaces[id].count) }
                throw typeError("object of type '\(value.typeName)' has no len()")
            default: throw typeError("object of type '\(value.typeName)' has no len()")
            }
        case "d", "default":
            let fallback = a.value(0, "default_value") ?? .string("")
            let boolean = a.bool(1, "boolean", default: false)
            if case .undefined = value { return fallback }
            if boolean && !value.truthy { return fallback }
            return value
        case "dictsort":
            guard case .object(let o) = value else {
                throw typeError("dictsort expects a mapping, got \(value.typeName)")
            }
            let caseSensitive = a.bool(0, "case_sensitive", default: false)
            let by = a.string(1, "by") ?? "key"
            guard by == "key" || by == "value" else {
                throw typeError("You can only sort by either \"key\" or \"value\"")
            }
            let reverse = a.bool(2, "reverse", default: false)
            let pairs = o.pairs.map { Value.tuple([.string($0.key), $0.value]) }
            return .array(
                try sorted(
                    pairs,
                    key: { p in
                        let parts = p.sequence ?? []
                        return sortKey(parts[by == "key" ? 0 : 1], caseSensitive: caseSensitive)
                    }, reverse: reverse))
        case "e", "escape":
            var out = ""
            for c in text(value).unicodeScalars {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(c)
                }
            }
            return .string(out)
        case "first":
            let items = try iterate(value)
            return items.first ?? .undefined("No first item, sequence was empty.")
        case "last":
            let items = try iterate(value)
            return items.last ?? .undefined("No last item, sequence was empty.")
        case "float":
            let fallback = a.value(0, "default") ?? .double(0)
            switch value {
            case .int(let i): return .double(Double(i))
            case .bool(let b): return .double(b ? 1 : 0)
            case .double: return value
            case .string(let s):
                let t = StringOps.strip(s, nil, leading: true, trailing: true).replacingOccurrences(of: "_", with: "")
                if let d = Double(t), !t.isEmpty, !t.hasPrefix("0x") { return .double(d) }
                switch t.lowercased() {
                case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
                case "-inf", "-infinity": return .double(-.infinity)
                case "nan", "+nan", "-nan": return .double(.nan)
                default: return fallback
                }
            default: return fallback
            }
        case "format":
            let args: Value = a.positional.count == 1 ? a.positional[0] : .tuple(a.positional)
            if !a.keywords.isEmpty {
                return .string(try Formatting.percent(text(value), .object(Value.Object(a.keywords)), self))
            }
            return .string(try Formatting.percent(text(value), args, self))
        case "indent":
            let widthValue = a.value(0, "width") ?? .int(4)
            let indentation: String
            if case .string(let s) = widthValue {
                indentation = s
            } else {
                let width = try int(widthValue, "width") ?? 4
                try checkWidth(width)
                indentation = String(repeating: " ", count: max(0, width))
            }
            let first = a.bool(1, "first", default: false)
            let blank = a.bool(2, "blank", default: false)
            let s = text(value) + "\n"
            var result: String
            let lines = StringOps.splitlines(s)
            if blank {
                result = lines.joined(separator: "\n" + indentation)
            } else {
                result = lines.first ?? ""
                let rest = lines.dropFirst()
                if !rest.isEmpty {
                    result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
                }
            }
            if first { result = indentation + result }
            return .string(result)
        case "int":
            let fallback = a.value(0, "default") ?? .int(0)
            let base = try int(a.value(1, "base"), "base") ?? 10
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d):
                guard d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) else { return fallback }
                return .int(i)
            case .string(let s):
                let t = StringOps.strip(s, nil, leading: true, trailing: true).replacingOccurrences(of: "_", with: "")
                var digits = t
                var radix = base
                let lower = t.lowercased()
                for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)]
                where lower.hasPrefix(prefix) && (base == r || base == 0) {
                    digits = String(t.dropFirst(2))
                    radix = r
                }
                if radix == 0 { radix = 10 }
                if (2...36).contains(radix), let i = Int(digits, radix: radix) { return .int(i) }
                if let d = Double(t), d.isFinite, let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
                return fallback
            default: return fallback
            }
        case "items":
            switch value {
            case .object(let o): return .array(o.pairs.map { .tuple([.string($0.key), $0.value]) })
            case .undefined: return .array([])
            default: throw typeError("Can only get item pairs from a mapping.")
            }
        case "join":
            let separator = a.string(0, "d") ?? (a.value(0, "d").map(text) ?? "")
            var items = try iterate(value)
            if let attr = a.value(1, "attribute") { items = try items.map { try attributePath($0, attr) } }
            return .string(items.map(text).joined(separator: separator))
        case "list":
            return .array(try iterate(value))
        case "lower":
            return .string(text(value).lowercased())
        case "upper":
            return .string(text(value).uppercased())
        case "map":
            let items = try iterate(value)
            if let attr = a.keywords.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = a.keywords.first { $0.0 == "default" }?.1
                return .array(
                    try items.map { item in
                        let v = try attributePath(item, attr)
                        if case .undefined = v, let fallback { return fallback }
                        return v
                    })
            }
            guard case .string(let filterName) = a.positional.first ?? Value.none else {
                throw typeError("map requires a filter name or attribute=")
            }
            guard Filters.names.contains(filterName) else {
                throw error(.unsupported, "unsupported filter '\(filterName)'")
            }
            let rest = CallArguments(positional: Array(a.positional.dropFirst()), keywords: a.keywords)
            return .array(try items.map { try filter(filterName, $0, rest) })
        case "max", "min":
            let items = try iterate(value)
            let caseSensitive = a.bool(0, "case_sensitive", default: false)
            let attr = a.value(1, "attribute")
            let me = self
            let key: (Value) throws -> Value = { v in
                me.sortKey(try attr.map { try me.attributePath(v, $0) } ?? v, caseSensitive: caseSensitive)
            }
            guard var best = items.first else { return .undefined("No aggregated item, sequence was empty.") }
            var bestKey = try key(best)
            for item in items.dropFirst() {
                let k = try key(item)
                guard let o = try Operators.ordering(k, bestKey) else {
                    throw typeError("'<' not supported between instances of '\(k.typeName)' and '\(bestKey.typeName)'")
                }
                if (name == "max" && o == 1) || (name == "min" && o == -1) {
                    best = item
                    bestKey = k
                }
            }
            return best
        case "select", "reject", "selectattr", "rejectattr":
            let items = try iterate(value)
            let byAttribute = name.hasSuffix("attr")
            var rest = a.positional
            var attr: Value? = nil
            if byAttribute {
                guard !rest.isEmpty else { throw typeError("\(name) requires an attribute name") }
                attr = rest.removeFirst()
            }
            var testName: String? = nil
            if !rest.isEmpty {
                guard case .string(let t) = rest.removeFirst() else {
                    throw typeError("\(name): test name must be a string")
                }
                guard Tests.names.contains(t) else { throw error(.unsupported, "unsupported test '\(t)'") }
                testName = t
            }
            let keep = name.hasPrefix("select")
            var out: [Value] = []
            for item in items {
                let subject = try attr.map { try attributePath(item, $0) } ?? item
                let passed =
                    try testName.map { try test($0, subject, CallArguments(positional: rest, keywords: a.keywords)) }
                    ?? subject.truthy
                if passed == keep { out.append(item) }
            }
            return .array(out)
        case "replace":
            let s = text(value)
            let old = text(a.value(0, "old") ?? .string(""))
            let new = text(a.value(1, "new") ?? .string(""))
            let count = try int(a.value(2, "count"), "count") ?? -1
            return .string(StringOps.replace(s, old, new, count: count))
        case "reverse":
            switch value {
            case .string(let s): return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed())))
            default: return .array(try iterate(value).reversed())
            }
        case "round":
            let precision = try int(a.value(0, "precision"), "precision") ?? 0
            let method = a.string(1, "method") ?? "common"
            guard let d = value.numeric else {
                throw typeError("type \(value.typeName) doesn't define __round__ method")
            }
            switch method {
            case "common":
                if case .int = value, precision >= 0 { return value }
                if precision == 0 { return .double(d.rounded(.toNearestOrEven)) }
                if precision > 0 {
                    let text = String(format: "%.\(min(precision, 300))f", d)
                    return .double(Double(text) ?? d)
                }
                let scale = pow(10, Double(-precision))
                return .double((d / scale).rounded(.toNearestOrEven) * scale)
            case "ceil", "floor":
                let scale = pow(10, Double(precision))
                let scaled = d * scale
                return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
            default:
                throw typeError("method must be common, ceil or floor")
            }
        case "safe":
            return value
        case "sort":
            let items = try iterate(value)
            let reverse = a.bool(0, "reverse", default: false)
            let caseSensitive = a.bool(1, "case_sensitive", default: false)
            let attr = a.value(2, "attribute")
            let me = self
            return .array(
                try sorted(
                    items,
                    key: { v in
                        me.sortKey(try attr.map { try me.attributePath(v, $0) } ?? v, caseSensitive: caseSensitive)
                    }, reverse: reverse))
        case "string":
            if case .string = value { return value }
            return .string(text(value))
        case "sum":
            let items = try iterate(value)
            let attr = a.value(0, "attribute")
            var total = a.value(1, "start") ?? .int(0)
            for item in items {
                total = try Operators.binary("+", total, try attr.map { try attributePath(item, $0) } ?? item, self)
            }
            return total
        case "title":
            return .string(StringOps.jinjaTitle(text(value)))
        case "tojson":
            // transformers' override: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
            var options = JSONOptions(indent: nil)
            if let indent = a.value(1, "indent") {
                switch indent {
                case .none: break
                case .string(let s): options = JSONOptions(indent: s)
                default:
                    let width = try int(indent, "indent") ?? 0
                    try checkWidth(width)
                    options = JSONOptions(indent: String(repeating: " ", count: max(0, width)))
                }
            }
            if let separators = a.value(2, "separators"), let parts = separators.sequence, parts.count == 2 {
                options.itemSeparator = parts[0].pythonStr
                options.keySeparator = parts[1].pythonStr
            }
            options.sortKeys = a.value(3, "sort_keys")?.truthy ?? false
            options.ensureASCII = a.value(0, "ensure_ascii")?.truthy ?? false
            var out = ""
            do {
                try value.writeJSON(into: &out, options: options, level: 0)
            } catch let e as TemplateError {
                throw error(e.kind, e.message)
            }
            return .string(out)
        case "trim":
            return .string(StringOps.strip(text(value), a.string(0, "chars"), leading: true, trailing: true))
        case "truncate":
            let s = text(value)
            let length = try int(a.value(0, "length"), "length") ?? 255
            let killWords = a.bool(1, "killwords", default: false)
            let end = a.string(2, "end") ?? "..."
            let leeway = try int(a.value(3, "leeway"), "leeway") ?? 5
            let scalars = Array(s.unicodeScalars)
            let endCount = end.unicodeScalars.count
            guard length >= endCount else { throw typeError("expected length >= \(endCount), got \(length)") }
            guard leeway >= 0 else { throw typeError("expected leeway >= 0, got \(leeway)") }
            if scalars.count <= length + leeway { return .string(s) }
            let head = String(String.UnicodeScalarView(scalars.prefix(length - endCount)))
            if killWords { return .string(head + end) }
            return .string((StringOps.rsplit(head, " ", maxSplit: 1).first ?? "") + end)
        case "unique":
            let items = try iterate(value)
            let caseSensitive = a.bool(0, "case_sensitive", default: false)
            let attr = a.value(1, "attribute")
            var seen: [Value] = []
            var out: [Value] = []
            for item in items {
                let k = sortKey(try attr.map { try attributePath(item, $0) } ?? item, caseSensitive: caseSensitive)
                if !seen.contains(where: { $0.pythonEquals(k) }) {
                    seen.append(k)
                    out.append(item)
                }
            }
            return .array(out)
        case "wordcount":
            var count = 0
            var inWord = false
            for c in text(value).unicodeScalars {
                let word = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                if word && !inWord { count += 1 }
                inWord = word
            }
            return .int(count)
        default:
            throw error(.unsupported, "unsupported filter '\(name)'")
        }
    }
}
