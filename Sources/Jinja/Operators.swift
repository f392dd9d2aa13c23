import Foundation

/// Python's arithmetic and comparison operators on template values, with Python's error messages.
enum Operators {
    static func binary(_ op: String, _ a: Value, _ b: Value, _ r: Renderer) throws -> Value {
        if case .undefined = a { throw r.undefinedError(a) }
        if case .undefined = b { throw r.undefinedError(b) }
        switch op {
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            case (.tuple(let x), .tuple(let y)): return .tuple(x + y)
            default: break
            }
            if let x = a.integer, let y = b.integer { return try checked(x.addingReportingOverflow(y), r) }
            if let x = a.numeric, let y = b.numeric { return .double(x + y) }
            switch a {
            case .string, .array, .tuple:
                throw r.typeError("can only concatenate \(a.typeName) (not \"\(b.typeName)\") to \(a.typeName)")
            default: throw unsupported(op, a, b, r)
            }
        case "-":
            if let x = a.integer, let y = b.integer { return try checked(x.subtractingReportingOverflow(y), r) }
            if let x = a.numeric, let y = b.numeric { return .double(x - y) }
            throw unsupported(op, a, b, r)
        case "*":
            if let x = a.integer, let y = b.integer { return try checked(x.multipliedReportingOverflow(by: y), r) }
            if let x = a.numeric, let y = b.numeric { return .double(x * y) }
            if let n = b.integer { return try repeated(a, n, r) ?? { throw unsupported(op, a, b, r) }() }
            if let n = a.integer { return try repeated(b, n, r) ?? { throw unsupported(op, a, b, r) }() }
            throw unsupported(op, a, b, r)
        case "/":
            guard let x = a.numeric, let y = b.numeric else { throw unsupported(op, a, b, r) }
            if y == 0 {
                throw r.typeError(a.integer != nil && b.integer != nil ? "division by zero" : "float division by zero")
            }
            if let i = a.integer, let j = b.integer, i.magnitude < (1 << 53), j.magnitude < (1 << 53) {
                return .double(Double(i) / Double(j))
            }
            return .double(x / y)
        case "//":
            if let x = a.integer, let y = b.integer {
                guard y != 0 else { throw r.typeError("integer division or modulo by zero") }
                guard !(x == Int.min && y == -1) else { throw r.typeError("integer overflow") }
                let q = x / y
                return .int((x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q)
            }
            guard let x = a.numeric, let y = b.numeric else { throw unsupported(op, a, b, r) }
            guard y != 0 else { throw r.typeError("float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            if case .string(let format) = a { return .string(try Formatting.percent(format, b, r)) }
            if let x = a.integer, let y = b.integer {
                guard y != 0 else { throw r.typeError("integer division or modulo by zero") }
                if y == -1 { return .int(0) }
                let m = x % y
                return .int(m != 0 && ((m < 0) != (y < 0)) ? m + y : m)
            }
            guard let x = a.numeric, let y = b.numeric else { throw unsupported(op, a, b, r) }
            guard y != 0 else { throw r.typeError("float modulo") }
            var m = fmod(x, y)
            if m != 0 && ((m < 0) != (y < 0)) { m += y }
            return .double(m)
        case "**":
            if let x = a.integer, let y = b.integer, y >= 0 {
                var result = 1
                var base = x
                var e = y
                while e > 0 {
                    if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base), r).integer ?? 0 }
                    e >>= 1
                    if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base), r).integer ?? 0 }
                }
                return .int(result)
            }
            guard let x = a.numeric, let y = b.numeric else { throw unsupported(op, a, b, r) }
            if x == 0 && y < 0 { throw r.typeError("0.0 cannot be raised to a negative power") }
            return .double(pow(x, y))
        default:
            throw r.error(.unsupported, "unsupported operator '\(op)'")
        }
    }

    private static func checked(_ result: (partialValue: Int, overflow: Bool), _ r: Renderer) throws -> Value {
        if result.overflow { throw r.error(.unsupported, "integer overflow (beyond 64 bits)") }
        return .int(result.partialValue)
    }

    private static func repeated(_ v: Value, _ n: Int, _ r: Renderer) throws -> Value? {
        let count = max(0, n)
        let size: Int
        switch v {
        case .string(let s): size = s.utf8.count
        case .array(let a), .tuple(let a): size = a.count
        default: return nil
        }
        if size.multipliedReportingOverflow(by: count).overflow || size * count > 10_000_000 {
            throw r.error(.security, "repetition result too large")
        }
        switch v {
        case .string(let s): return .string(String(repeating: s, count: count))
        case .array(let a): return .array(Array([[Value]](repeating: a, count: count).joined()))
        case .tuple(let a): return .tuple(Array([[Value]](repeating: a, count: count).joined()))
        default: return nil
        }
    }

    private static func unsupported(_ op: String, _ a: Value, _ b: Value, _ r: Renderer) -> TemplateError {
        r.typeError("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    static func compare(_ op: String, _ a: Value, _ b: Value, _ r: Renderer) throws -> Bool {
        switch op {
        case "==": return a.pythonEquals(b)
        case "!=": return !a.pythonEquals(b)
        case "in": return try contains(b, a, r)
        case "notin": return !(try contains(b, a, r))
        default:
            if case .undefined = a { throw r.undefinedError(a) }
            if case .undefined = b { throw r.undefinedError(b) }
            guard let order = try ordering(a, b) else {
                throw r.typeError("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    /// Python's ordering of two values: -1, 0, 1, or nil when the types cannot be ordered.
    static func ordering(_ a: Value, _ b: Value, depth: Int = 0) throws -> Int? {
        if depth > Value.maxNesting { return nil }
        if let x = a.integer, let y = b.integer { return x < y ? -1 : (x > y ? 1 : 0) }
        if let x = a.numeric, let y = b.numeric {
            if x.isNaN || y.isNaN { return 2 }  // every comparison with NaN is false except !=
            return x < y ? -1 : (x > y ? 1 : 0)
        }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.utf8.elementsEqual(y.utf8) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars, by: { $0.value < $1.value }) ? -1 : 1
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !p.pythonEquals(q) {
                return try ordering(p, q, depth: depth + 1)
            }
            return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
        default:
            return nil
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: Value, _ needle: Value, _ r: Renderer) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw r.typeError("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return StringOps.find(Array(s.utf8), Array(n.utf8), from: 0) != nil
        case .array(let a), .tuple(let a):
            return a.contains { $0.pythonEquals(needle) }
        case .object(let o):
            if case .string(let k) = needle { return o[k] != nil }
            return false
        case .undefined:
            return false
        case .opaque(let o):
            if case .namespace(let id) = o.kind, case .string(let k) = needle { return r.namespaces[id][k] != nil }
            throw r.typeError("argument of type '\(container.typeName)' is not iterable")
        default:
            throw r.typeError("argument of type '\(container.typeName)' is not iterable")
        }
    }
}

/// Byte-level helpers for Python string methods (UTF-8 matching equals code-point matching).
enum StringOps {
    static func find(_ hay: [UInt8], _ needle: [UInt8], from start: Int) -> Int? {
        if needle.isEmpty { return start <= hay.count ? start : nil }
        guard hay.count >= needle.count else { return nil }
        var i = start
        let last = hay.count - needle.count
        let first = needle[0]
        while i <= last {
            if hay[i] == first {
                var k = 1
                while k < needle.count && hay[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func rfind(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if Array(hay[i..<i + needle.count]) == needle { return i }
            i -= 1
        }
        return nil
    }

    /// `s.replace(old, new, count)`; Python inserts `new` between characters when `old` is empty.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        if count == 0 { return s }
        if old.isEmpty {
            var out = ""
            var n = 0
            for scalar in s.unicodeScalars {
                if count < 0 || n < count {
                    out += new
                    n += 1
                }
                out.unicodeScalars.append(scalar)
            }
            if count < 0 || n < count { out += new }
            return out
        }
        let hay = Array(s.utf8)
        let needle = Array(old.utf8)
        var out: [UInt8] = []
        var i = 0
        var n = 0
        while count < 0 || n < count, let j = find(hay, needle, from: i) {
            out += hay[i..<j]
            out += Array(new.utf8)
            i = j + needle.count
            n += 1
        }
        out += hay[i...]
        return String(decoding: out, as: UTF8.self)
    }

    static func count(_ s: String, _ sub: String) -> Int {
        if sub.isEmpty { return s.unicodeScalars.count + 1 }
        let hay = Array(s.utf8)
        let needle = Array(sub.utf8)
        var i = 0
        var n = 0
        while let j = find(hay, needle, from: i) {
            n += 1
            i = j + needle.count
        }
        return n
    }

    /// Python's `str.split(sep, maxsplit)`.
    static func split(_ s: String, _ sep: String?, maxSplit: Int) -> [String] {
        guard let sep else {
            let scalars = Array(s.unicodeScalars)
            var parts: [String] = []
            var i = 0
            while true {
                while i < scalars.count, PythonString.isSpace(scalars[i]) { i += 1 }
                if i == scalars.count { break }
                if maxSplit >= 0 && parts.count == maxSplit {
                    parts.append(String(String.UnicodeScalarView(scalars[i...])))
                    break
                }
                var j = i
                while j < scalars.count, !PythonString.isSpace(scalars[j]) { j += 1 }
                parts.append(String(String.UnicodeScalarView(scalars[i..<j])))
                i = j
            }
            return parts
        }
        let hay = Array(s.utf8)
        let needle = Array(sep.utf8)
        var parts: [String] = []
        var i = 0
        while maxSplit < 0 || parts.count < maxSplit, let j = find(hay, needle, from: i) {
            parts.append(String(decoding: hay[i..<j], as: UTF8.self))
            i = j + needle.count
        }
        parts.append(String(decoding: hay[i...], as: UTF8.self))
        return parts
    }

    static func rsplit(_ s: String, _ sep: String?, maxSplit: Int) -> [String] {
        if maxSplit < 0 { return split(s, sep, maxSplit: -1) }
        guard let sep else {
            let reversed = String(String.UnicodeScalarView(s.unicodeScalars.reversed()))
            return split(reversed, nil, maxSplit: maxSplit).reversed()
                .map { String(String.UnicodeScalarView($0.unicodeScalars.reversed())) }
        }
        var hay = Array(s.utf8)
        let needle = Array(sep.utf8)
        var parts: [String] = []
        while parts.count < maxSplit, let j = rfind(hay, needle) {
            parts.insert(String(decoding: hay[(j + needle.count)...], as: UTF8.self), at: 0)
            hay = Array(hay[..<j])
        }
        parts.insert(String(decoding: hay, as: UTF8.self), at: 0)
        return parts
    }

    /// Python's `str.splitlines(keepends)`.
    static func splitlines(_ s: String, keepEnds: Bool = false) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            switch c.value {
            case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                var end = String.UnicodeScalarView([c])
                if c.value == 0x0D, i + 1 < scalars.count, scalars[i + 1].value == 0x0A {
                    end.append(scalars[i + 1])
                    i += 1
                }
                if keepEnds { current.append(contentsOf: end) }
                lines.append(String(current))
                current = String.UnicodeScalarView()
            default:
                current.append(c)
            }
            i += 1
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// `str.strip(chars)`: whitespace when `chars` is nil.
    static func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? PythonString.isSpace(c) }
        var scalars = Array(s.unicodeScalars)[...]
        if leading { scalars = scalars.drop(while: drop) }
        if trailing {
            while let last = scalars.last, drop(last) { scalars = scalars.dropLast() }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Python's `str.capitalize`: first character upper-cased (title case), the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        let rest = String(String.UnicodeScalarView(s.unicodeScalars.dropFirst()))
        return first.properties.titlecaseMapping + rest.lowercased()
    }

    /// Python's `str.title`: a cased character after an uncased one starts a word.
    static func pythonTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            if c.properties.isCased {
                out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
                previousCased = true
            } else {
                out.unicodeScalars.append(c)
                previousCased = false
            }
        }
        return out
    }

    /// Jinja's `title` filter: words start after whitespace, `-`, or an opening bracket.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atStart = true
        for c in s.unicodeScalars {
            let separator = PythonString.isSpace(c) || "-({[<".unicodeScalars.contains(c)
            if separator {
                out.unicodeScalars.append(c)
                atStart = true
            } else {
                out += atStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
                atStart = false
            }
        }
        return out
    }
}
