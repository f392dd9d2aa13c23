import Foundation

/// Python's `%` string formatting and `str.format`, for the conversions templates use.
enum Formatting {
    /// `format % args`: `%s %r %d %i %f %e %g %x %o %c %%` with flags, width and precision, and `%(key)s`.
    static func percent(_ format: String, _ args: Value, _ r: Renderer) throws -> String {
        let scalars = Array(format.unicodeScalars)
        var positional: [Value]
        var mapping: Value.Object? = nil
        switch args {
        case .tuple(let a): positional = a
        case .object(let o):
            positional = [args]
            mapping = o
        default: positional = [args]
        }
        var next = 0
        var out = ""
        var i = 0
        func take() throws -> Value {
            guard next < positional.count else { throw r.typeError("not enough arguments for format string") }
            next += 1
            return positional[next - 1]
        }
        while i < scalars.count {
            let c = scalars[i]
            guard c == "%" else {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < scalars.count else { throw r.typeError("incomplete format") }
            var value: Value? = nil
            if scalars[i] == "(" {
                guard let close = scalars[i...].firstIndex(of: ")") else { throw r.typeError("incomplete format key") }
                let key = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
                guard let mapping else { throw r.typeError("format requires a mapping") }
                guard let v = mapping[key] else { throw r.typeError("KeyError: \(PythonString.repr(key))") }
                value = v
                i = close + 1
            }
            var flags = ""
            while i < scalars.count, "-+ 0#".unicodeScalars.contains(scalars[i]) {
                flags.unicodeScalars.append(scalars[i])
                i += 1
            }
            var width = ""
            if i < scalars.count, scalars[i] == "*" {
                width = String(try take().integer ?? 0)
                i += 1
            }
            while i < scalars.count, scalars[i].properties.numericType != nil, scalars[i].isASCII {
                width.unicodeScalars.append(scalars[i])
                i += 1
            }
            var precision: String? = nil
            if i < scalars.count, scalars[i] == "." {
                i += 1
                var p = ""
                while i < scalars.count, scalars[i].isASCII, scalars[i].properties.numericType != nil {
                    p.unicodeScalars.append(scalars[i])
                    i += 1
                }
                precision = p.isEmpty ? "0" : p
            }
            guard i < scalars.count else { throw r.typeError("incomplete format") }
            let conversion = scalars[i]
            i += 1
            if conversion == "%" {
                out += "%"
                continue
            }
            let v = try value ?? take()
            out += try formatOne(
                v, conversion: Character(conversion), flags: flags, width: width, precision: precision, r)
        }
        if mapping == nil && next < positional.count {
            throw r.typeError("not all arguments converted during string formatting")
        }
        return out
    }

    private static func formatOne(
        _ v: Value, conversion: Character, flags: String, width: String, precision: String?, _ r: Renderer
    ) throws -> String {
        try r.checkWidth(width.isEmpty ? 0 : Int(width) ?? Int.max)
        try r.checkWidth(Int(precision ?? "0") ?? Int.max)
        let spec = "%" + flags + width + (precision.map { "." + $0 } ?? "")
        switch conversion {
        case "s", "r", "a":
            var s = conversion == "s" ? v.pythonStr : v.pythonRepr
            if let precision, let p = Int(precision) {
                s = String(String.UnicodeScalarView(s.unicodeScalars.prefix(p)))
            }
            return pad(s, width: Int(width) ?? 0, left: flags.contains("-"))
        case "d", "i", "u":
            guard let n = v.integer ?? v.numeric.flatMap({ $0.isFinite ? Int(exactly: $0.rounded(.towardZero)) : nil })
            else { throw r.typeError("%\(conversion) format: a real number is required, not \(v.typeName)") }
            return String(format: spec + "ld", n)
        case "x", "X", "o":
            guard let n = v.integer else {
                throw r.typeError("%\(conversion) format: an integer is required, not \(v.typeName)")
            }
            if n < 0 {
                let digits = String(format: spec + "l" + String(conversion), n.magnitude)
                return "-" + digits.drop { $0 == " " }
            }
            return String(format: spec + "l" + String(conversion), n)
        case "f", "F", "e", "E", "g", "G":
            guard let d = v.numeric else {
                throw r.typeError("must be real number, not \(v.typeName)")
            }
            return String(format: spec + String(conversion), d)
        case "c":
            if case .string(let s) = v, s.unicodeScalars.count == 1 {
                return pad(s, width: Int(width) ?? 0, left: flags.contains("-"))
            }
            if let n = v.integer, let scalar = Unicode.Scalar(UInt32(clamping: max(0, n))) {
                return pad(String(Character(scalar)), width: Int(width) ?? 0, left: flags.contains("-"))
            }
            throw r.typeError("%c requires int or char")
        default:
            throw r.error(.unsupported, "unsupported format character '\(conversion)'")
        }
    }

    private static func pad(_ s: String, width: Int, left: Bool, fill: Character = " ") -> String {
        let n = s.unicodeScalars.count
        guard width > n else { return s }
        let padding = String(repeating: fill, count: width - n)
        return left ? s + padding : padding + s
    }

    /// `str.format(*args, **kwargs)` with `{}`, `{0}`, `{name}`, `!r`/`!s` and simple format specs.
    static func format(_ format: String, _ args: [Value], _ kwargs: [(String, Value)], _ r: Renderer) throws -> String {
        let scalars = Array(format.unicodeScalars)
        var out = ""
        var auto = 0
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "{" {
                if i + 1 < scalars.count, scalars[i + 1] == "{" {
                    out += "{"
                    i += 2
                    continue
                }
                guard let close = scalars[i...].firstIndex(of: "}") else {
                    throw r.typeError("Single '{' encountered in format string")
                }
                var field = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
                i = close + 1
                var spec = ""
                if let colon = field.firstIndex(of: ":") {
                    spec = String(field[field.index(after: colon)...])
                    field = String(field[..<colon])
                }
                var conversion: Character? = nil
                if let bang = field.firstIndex(of: "!") {
                    conversion = field[field.index(after: bang)...].first
                    field = String(field[..<bang])
                }
                let value: Value
                if field.isEmpty {
                    guard auto < args.count else {
                        throw r.typeError("Replacement index \(auto) out of range for positional args tuple")
                    }
                    value = args[auto]
                    auto += 1
                } else if let n = Int(field) {
                    guard n >= 0, n < args.count else {
                        throw r.typeError("Replacement index \(n) out of range for positional args tuple")
                    }
                    value = args[n]
                } else if let kv = kwargs.first(where: { $0.0 == field }) {
                    value = kv.1
                } else {
                    throw r.typeError("KeyError: \(PythonString.repr(field))")
                }
                var text: String
                switch conversion {
                case "r": text = value.pythonRepr
                case nil, "s": text = value.pythonStr
                default: throw r.error(.unsupported, "unsupported conversion '!\(conversion.map(String.init) ?? "")'")
                }
                if !spec.isEmpty { text = try applySpec(spec, conversion == nil ? value : .string(text), r) }
                out += text
            } else if c == "}" {
                if i + 1 < scalars.count, scalars[i + 1] == "}" {
                    out += "}"
                    i += 2
                    continue
                }
                throw r.typeError("Single '}' encountered in format string")
            } else {
                out.unicodeScalars.append(c)
                i += 1
            }
        }
        return out
    }

    /// Inserts a thousands separator into the integer part of a formatted number.
    private static func group(_ body: String, _ separator: Character) -> String {
        var sign = ""
        var rest = Substring(body)
        if rest.hasPrefix("-") {
            sign = "-"
            rest = rest.dropFirst()
        }
        let intPart = rest.prefix { $0.isASCII && $0.isNumber }
        let tail = rest.dropFirst(intPart.count)
        var grouped = ""
        for (i, c) in intPart.enumerated() {
            if i > 0 && (intPart.count - i) % 3 == 0 { grouped.append(separator) }
            grouped.append(c)
        }
        return sign + grouped + tail
    }

    /// The format-spec mini-language: `[[fill]align][sign][0][width][.precision][type]`.
    static func applySpec(_ spec: String, _ value: Value, _ r: Renderer) throws -> String {
        var chars = Array(spec)[...]
        var fill: Character = " "
        var align: Character? = nil
        if chars.count >= 2, "<>^=".contains(chars[chars.startIndex + 1]) {
            fill = chars[chars.startIndex]
            align = chars[chars.startIndex + 1]
            chars = chars.dropFirst(2)
        } else if let f = chars.first, "<>^=".contains(f) {
            align = f
            chars = chars.dropFirst()
        }
        var sign = ""
        if let f = chars.first, "+- ".contains(f) {
            sign = String(f)
            chars = chars.dropFirst()
        }
        if chars.first == "0" {
            if align == nil {
                fill = "0"
                align = "="
            }
            chars = chars.dropFirst()
        }
        var width = ""
        while let f = chars.first, f.isASCII, f.isNumber {
            width.append(f)
            chars = chars.dropFirst()
        }
        var grouping: Character? = nil
        if let f = chars.first, f == "," || f == "_" {
            grouping = f
            chars = chars.dropFirst()
        }
        var precision: Int? = nil
        if chars.first == "." {
            chars = chars.dropFirst()
            var p = ""
            while let f = chars.first, f.isASCII, f.isNumber {
                p.append(f)
                chars = chars.dropFirst()
            }
            precision = Int(p)
        }
        try r.checkWidth(Int(width.isEmpty ? "0" : width) ?? Int.max)
        try r.checkWidth(precision ?? 0)
        let type = chars.first
        if chars.count > 1 { throw r.error(.unsupported, "unsupported format spec '\(spec)'") }
        var body: String
        var isNumber = false
        switch type {
        case nil, "s":
            if case .string(let s) = value {
                body = precision.map { String(String.UnicodeScalarView(s.unicodeScalars.prefix($0))) } ?? s
            } else if let p = precision, let d = value.numeric, case .double = value {
                body = String(format: "%.\(p)g", d)
                isNumber = true
            } else {
                body = value.pythonStr
                isNumber = value.numeric != nil
            }
        case "d":
            guard let n = value.integer else {
                throw r.typeError("Unknown format code 'd' for object of type '\(value.typeName)'")
            }
            body = String(n)
            isNumber = true
        case "f", "F", "e", "E", "g", "G", "%":
            guard let d = value.numeric else {
                throw r.typeError(
                    "Unknown format code '\(type.map(String.init) ?? "")' for object of type '\(value.typeName)'")
            }
            if type == "%" {
                body = String(format: "%.\(precision ?? 6)f", d * 100) + "%"
            } else {
                body = String(format: "%.\(precision ?? 6)" + String(type ?? "f"), d)
            }
            isNumber = true
        case "x", "X", "o", "b":
            guard let n = value.integer else {
                throw r.typeError("Unknown format code for object of type '\(value.typeName)'")
            }
            let radix = type == "o" ? 8 : (type == "b" ? 2 : 16)
            body = String(n.magnitude, radix: radix, uppercase: type == "X")
            if n < 0 { body = "-" + body }
            isNumber = true
        default:
            throw r.error(.unsupported, "unsupported format spec '\(spec)'")
        }
        if let grouping, isNumber { body = group(body, grouping) }
        if isNumber && (sign == "+" || sign == " ") && !body.hasPrefix("-") { body = sign + body }
        let n = body.unicodeScalars.count
        guard let w = Int(width), w > n else { return body }
        let padding = w - n
        switch align ?? (isNumber ? ">" : "<") {
        case "<": return body + String(repeating: fill, count: padding)
        case "^":
            let left = padding / 2
            return String(repeating: fill, count: left) + body + String(repeating: fill, count: padding - left)
        case "=":
            if body.hasPrefix("-") || body.hasPrefix("+") {
                return String(body.prefix(1)) + String(repeating: fill, count: padding) + body.dropFirst()
            }
            return String(repeating: fill, count: padding) + body
        default: return String(repeating: fill, count: padding) + body
        }
    }
}
