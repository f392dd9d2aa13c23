/// The built-in tests (`x is defined`, `n is divisibleby 3`...): the set of names the parser accepts.
enum Tests {
    static let names: Set<String> = [
        "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
        "boolean", "true", "false", "callable", "odd", "even", "divisibleby", "equalto", "eq", "ne", "lt", "le",
        "gt", "ge", "lessthan", "greaterthan", "in", "lower", "upper", "sameas", "escaped", "filter", "test",
    ]
}

extension Renderer {
    mutating func applyTest(_ name: String, to value: Value, _ args: Arguments) throws -> Bool {
        let (positional, keywords) = try evalArguments(args)
        return try test(name, value, CallArguments(positional: positional, keywords: keywords))
    }

    private func argument(_ a: CallArguments, _ test: String) throws -> Value {
        guard let v = a.value(0, "other") ?? a.value(0, "num") ?? a.value(0, "seq") ?? a.value(0, "value") else {
            throw typeError("test '\(test)' needs an argument")
        }
        return v
    }

    func test(_ name: String, _ value: Value, _ a: CallArguments) throws -> Bool {
        switch name {
        case "defined": return value.isDefined
        case "undefined": return !value.isDefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .string, .array, .tuple, .object, .undefined: return true
            default: return false
            }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "callable":
            if case .undefined = value { return true }
            if case .opaque(let o) = value {
                switch o.kind {
                case .builtin, .macro, .boundMethod: return true
                default: return false
                }
            }
            return false
        case "odd", "even":
            if case .undefined = value { throw undefinedError(value) }
            guard let i = value.integer else {
                throw typeError("unsupported operand type(s) for %: '\(value.typeName)' and 'int'")
            }
            return (i & 1 == 1) == (name == "odd")
        case "divisibleby":
            let n = try argument(a, name)
            guard let x = value.integer, let y = n.integer else {
                let m = try Operators.binary("%", value, n, self)
                return m.pythonEquals(.int(0))
            }
            guard y != 0 else { throw typeError("integer division or modulo by zero") }
            return x % y == 0
        case "equalto", "eq": return value.pythonEquals(try argument(a, name))
        case "ne": return !value.pythonEquals(try argument(a, name))
        case "lt", "lessthan": return try Operators.compare("<", value, try argument(a, name), self)
        case "le": return try Operators.compare("<=", value, try argument(a, name), self)
        case "gt", "greaterthan": return try Operators.compare(">", value, try argument(a, name), self)
        case "ge": return try Operators.compare(">=", value, try argument(a, name), self)
        case "in": return try Operators.contains(try argument(a, name), value, self)
        case "lower", "upper":
            let s = value.pythonStr
            var cased = false
            for c in s.unicodeScalars where c.properties.isCased {
                cased = true
                if name == "lower" ? c.properties.isUppercase : c.properties.isLowercase { return false }
            }
            return cased
        case "sameas":
            let other = try argument(a, name)
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let x), .bool(let y)): return x == y
            case (.undefined, .undefined): return false
            default: return false
            }
        case "escaped": return false
        case "filter":
            if case .string(let s) = value { return Filters.names.contains(s) }
            return false
        case "test":
            if case .string(let s) = value { return Tests.names.contains(s) }
            return false
        default:
            throw error(.unsupported, "unsupported test '\(name)'")
        }
    }
}
