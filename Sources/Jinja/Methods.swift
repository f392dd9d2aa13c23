/// Python methods on strings, dicts and lists, and `loop.cycle`.
extension Renderer {
    mutating func callMethod(_ receiver: Value, _ name: String, _ positional: [Value], _ keywords: [(String, Value)])
        throws -> Value
    {
        let a = CallArguments(positional: positional, keywords: keywords)
        switch receiver {
        case .string(let s): return try stringMethod(s, name, a)
        case .object(let o): return try dictMethod(o, name, a)
        case .array(let items), .tuple(let items):
            switch name {
            case "index":
                let needle = a.value(0, "value") ?? Value.none
                guard let i = items.firstIndex(where: { $0.pythonEquals(needle) }) else {
                    throw typeError("\(needle.pythonRepr) is not in list")
                }
                return .int(i)
            case "count":
                let needle = a.value(0, "value") ?? Value.none
                return .int(items.filter { $0.pythonEquals(needle) }.count)
            default: break
            }
        case .opaque(let o):
            if case .loop(let state) = o.kind, name == "cycle" {
                guard !positional.isEmpty else { throw typeError("no items for cycling given") }
                return positional[state.index0 % positional.count]
            }
        default: break
        }
        throw error(.unsupported, "unsupported method '\(name)' of '\(receiver.typeName)'")
    }

    private func dictMethod(_ o: Value.Object, _ name: String, _ a: CallArguments) throws -> Value {
        switch name {
        case "items": return .array(o.pairs.map { .tuple([.string($0.key), $0.value]) })
        case "keys": return .array(o.keys.map { .string($0) })
        case "values": return .array(o.values)
        case "get":
            let fallback = a.value(1, "default") ?? Value.none
            guard case .string(let k) = a.value(0, "key") ?? Value.none else { return fallback }
            return o[k] ?? fallback
        default:
            throw error(.unsupported, "unsupported method '\(name)' of 'dict'")
        }
    }

    private func optionalString(_ v: Value?, _ what: String) throws -> String? {
        switch v {
        case nil, .some(.none): return nil
        case .some(.string(let s)): return s
        case .some(let other): throw typeError("\(what) arg must be None or str, not \(other.typeName)")
        }
    }

    private func stringArgument(_ v: Value?, _ method: String) throws -> String {
        guard case .string(let s) = v ?? Value.none else {
            throw typeError("\(method)() argument must be str, not \((v ?? Value.none).typeName)")
        }
        return s
    }

    private func stringMethod(_ s: String, _ name: String, _ a: CallArguments) throws -> Value {
        switch name {
        case "strip", "lstrip", "rstrip":
            let chars = try optionalString(a.value(0, "chars"), name)
            return .string(StringOps.strip(s, chars, leading: name != "rstrip", trailing: name != "lstrip"))
        case "split", "rsplit":
            let sep = try optionalString(a.value(0, "sep"), name)
            if sep == "" { throw typeError("empty separator") }
            let maxSplit = a.value(1, "maxsplit")?.integer ?? -1
            let parts =
                name == "split"
                ? StringOps.split(s, sep, maxSplit: maxSplit) : StringOps.rsplit(s, sep, maxSplit: maxSplit)
            return .array(parts.map { .string($0) })
        case "startswith", "endswith":
            let candidates: [Value]
            switch a.value(0, "prefix") ?? Value.none {
            case .string(let p): candidates = [.string(p)]
            case .tuple(let t): candidates = t
            case let other:
                throw typeError("\(name) first arg must be str or a tuple of str, not \(other.typeName)")
            }
            let bytes = Array(s.utf8)
            for c in candidates {
                guard case .string(let p) = c else { throw typeError("tuple for \(name) must only contain str") }
                let pb = Array(p.utf8)
                if pb.count <= bytes.count {
                    let slice = name == "startswith" ? Array(bytes.prefix(pb.count)) : Array(bytes.suffix(pb.count))
                    if slice == pb { return .bool(true) }
                }
            }
            return .bool(false)
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "casefold": return .string(s.lowercased())
        case "swapcase":
            var out = ""
            for c in s.unicodeScalars {
                if c.properties.isUppercase {
                    out += c.properties.lowercaseMapping
                } else if c.properties.isLowercase {
                    out += c.properties.uppercaseMapping
                } else {
                    out.unicodeScalars.append(c)
                }
            }
            return .string(out)
        case "title": return .string(StringOps.pythonTitle(s))
        case "capitalize": return .string(StringOps.capitalize(s))
        case "replace":
            let old = try stringArgument(a.value(0, "old"), name)
            let new = try stringArgument(a.value(1, "new"), name)
            let count = a.value(2, "count")?.integer ?? -1
            return .string(StringOps.replace(s, old, new, count: count))
        case "find", "index", "rfind", "rindex":
            let sub = try stringArgument(a.value(0, "sub"), name)
            let bytes = Array(s.utf8)
            let found =
                name.hasPrefix("r")
                ? StringOps.rfind(bytes, Array(sub.utf8))
                : StringOps.find(bytes, Array(sub.utf8), from: 0)
            guard let byteIndex = found else {
                if name.hasSuffix("index") { throw typeError("substring not found") }
                return .int(-1)
            }
            return .int(String(decoding: bytes[..<byteIndex], as: UTF8.self).unicodeScalars.count)
        case "count":
            return .int(StringOps.count(s, try stringArgument(a.value(0, "sub"), name)))
        case "join":
            let items = try iterate(a.value(0, "iterable") ?? Value.none)
            var parts: [String] = []
            for (i, item) in items.enumerated() {
                guard case .string(let p) = item else {
                    throw typeError("sequence item \(i): expected str instance, \(item.typeName) found")
                }
                parts.append(p)
            }
            return .string(parts.joined(separator: s))
        case "format":
            return .string(try Formatting.format(s, a.positional, a.keywords, self))
        case "splitlines":
            return .array(StringOps.splitlines(s, keepEnds: a.bool(0, "keepends", default: false)).map { .string($0) })
        case "isdigit", "isnumeric", "isdecimal":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum":
            return .bool(
                !s.isEmpty
                    && s.unicodeScalars.allSatisfy {
                        $0.properties.isAlphabetic || $0.properties.numericType != nil
                    })
        case "isspace":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonString.isSpace))
        case "islower", "isupper":
            var cased = false
            for c in s.unicodeScalars where c.properties.isCased {
                cased = true
                if name == "islower" ? c.properties.isUppercase : c.properties.isLowercase { return .bool(false) }
            }
            return .bool(cased)
        case "zfill", "ljust", "rjust", "center":
            let width = a.value(0, "width")?.integer ?? 0
            try checkWidth(width)
            let fill = a.string(1, "fillchar") ?? (name == "zfill" ? "0" : " ")
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            let pad = width - n
            switch name {
            case "ljust": return .string(s + String(repeating: fill, count: pad))
            case "rjust": return .string(String(repeating: fill, count: pad) + s)
            case "center":
                let left = pad / 2 + (pad & width & 1)
                return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: pad - left))
            default:
                if s.hasPrefix("-") || s.hasPrefix("+") {
                    return .string(String(s.prefix(1)) + String(repeating: "0", count: pad) + s.dropFirst())
                }
                return .string(String(repeating: "0", count: pad) + s)
            }
        case "partition", "rpartition":
            let sep = try stringArgument(a.value(0, "sep"), name)
            if sep.isEmpty { throw typeError("empty separator") }
            let parts =
                name == "partition" ? StringOps.split(s, sep, maxSplit: 1) : StringOps.rsplit(s, sep, maxSplit: 1)
            if parts.count == 2 { return .tuple([.string(parts[0]), .string(sep), .string(parts[1])]) }
            return name == "partition" ? .tuple([.string(s), "", ""]) : .tuple(["", "", .string(s)])
        case "removeprefix", "removesuffix":
            let affix = try stringArgument(a.value(0, "prefix"), name)
            let b = Array(s.utf8)
            let x = Array(affix.utf8)
            if name == "removeprefix", b.starts(with: x) {
                return .string(String(decoding: b.dropFirst(x.count), as: UTF8.self))
            }
            if name == "removesuffix", !x.isEmpty, b.count >= x.count, Array(b.suffix(x.count)) == x {
                return .string(String(decoding: b.dropLast(x.count), as: UTF8.self))
            }
            return .string(s)
        default:
            throw error(.unsupported, "unsupported method '\(name)' of 'str'")
        }
    }
}
