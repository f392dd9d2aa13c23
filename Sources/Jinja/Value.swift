import Foundation

/// A value a template works with: the JSON types plus Python's tuple, Jinja's undefined, and opaque
/// template-only values (macros, namespaces, the loop object, built-in functions).
///
/// Semantics follow Python and Jinja: `int` and `double` compare equal across types, `bool` counts as
/// an integer in arithmetic, objects keep their keys in insertion order, and strings compare by Unicode
/// code points (not by canonical equivalence as Swift's `String ==` does).
public enum Value: Sendable {
    /// Jinja's default `Undefined`; the message is what an `UndefinedError` reports when it is misused.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    /// A Python tuple: behaves like an array but prints as `(1, 2)`.
    case tuple([Value])
    case object(Object)
    /// Template-only values (macros, namespaces, `loop`, built-in functions); not made by callers.
    case opaque(Opaque)

    /// An undefined value with a generic message.
    public static var missing: Value { .undefined("value is undefined") }

    /// True unless the value is undefined.
    public var isDefined: Bool {
        if case .undefined = self { return false }
        return true
    }
}

// MARK: - Object

extension Value {
    /// A dictionary with string keys that remembers insertion order, as Python's `dict` does.
    public struct Object: Sendable, Equatable {
        /// The keys in insertion order.
        public private(set) var keys: [String] = []
        private var storage: [String: Value] = [:]

        /// An empty object.
        public init() {}

        /// Builds an object from pairs; a repeated key keeps its first position and its last value.
        public init(_ pairs: [(String, Value)]) {
            for (key, value) in pairs { self[key] = value }
        }

        /// The number of entries.
        public var count: Int { keys.count }
        /// True when the object has no entries.
        public var isEmpty: Bool { keys.isEmpty }

        /// The value for `key`; setting a new key appends it, setting `nil` removes the entry.
        public subscript(key: String) -> Value? {
            get { storage[key] }
            set {
                if let newValue {
                    if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
                } else if storage.removeValue(forKey: key) != nil {
                    keys.removeAll { $0 == key }
                }
            }
        }

        /// The entries in insertion order.
        public var pairs: [(key: String, value: Value)] {
            keys.map { ($0, storage[$0] ?? Value.none) }
        }

        /// The values in key order.
        public var values: [Value] { keys.map { storage[$0] ?? Value.none } }

        /// Python's dict equality: same keys with equal values, order ignored.
        public static func == (lhs: Object, rhs: Object) -> Bool {
            guard lhs.count == rhs.count else { return false }
            for (key, value) in lhs.storage {
                guard let other = rhs.storage[key], value.pythonEquals(other, depth: 1) else { return false }
            }
            return true
        }
    }
}

// MARK: - Opaque template values

/// A value that exists only while a template renders (macros, namespaces, `loop`, built-ins).
public struct Opaque: Sendable {
    indirect enum Kind: Sendable {
        case builtin(String)
        case macro(MacroDefinition)
        case namespace(Int)
        case loop(LoopState)
        case boundMethod(receiver: Value, name: String)
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }
}

/// The state behind a loop's `loop` variable.
struct LoopState: Sendable {
    var index0: Int
    var length: Int
    var previous: Value
    var next: Value
    var depth0: Int
}

// MARK: - Literals and conversions

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(Object(elements)) }
}

extension Value: Equatable {
    /// Python's `==` (so `1 == 1.0`, `True == 1`, dicts ignore order; undefined equals only undefined).
    public static func == (lhs: Value, rhs: Value) -> Bool { lhs.pythonEquals(rhs) }
}

extension Value: CustomStringConvertible {
    /// What `{{ value }}` prints: Python's `str()` (undefined prints nothing).
    public var description: String { pythonStr }
}

extension Value {
    /// Python's type name, as its error messages use it (`str`, `int`, `dict`, `NoneType`...).
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .opaque(let o):
            switch o.kind {
            case .builtin, .boundMethod: return "builtin_function_or_method"
            case .macro: return "Macro"
            case .namespace: return "Namespace"
            case .loop: return "LoopContext"
            }
        }
    }

    /// Jinja's `object_type_repr`, used in undefined messages (`dict object`, `None`).
    var objectTypeRepr: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }

    /// Python truthiness (undefined is false).
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .opaque: return true
        }
    }

    /// The elements of a list or tuple.
    var sequence: [Value]? {
        switch self {
        case .array(let a), .tuple(let a): return a
        default: return nil
        }
    }

    /// A number as Double (bools count as 0/1), for mixed arithmetic and comparison.
    var numeric: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// An integer (bools count as 0/1).
    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return i
        default: return nil
        }
    }

    /// Nesting beyond which printing shows `[...]` and comparisons give up (values built by hostile templates).
    static let maxNesting = 500

    func pythonEquals(_ other: Value, depth: Int = 0) -> Bool {
        if depth > Value.maxNesting { return false }
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1, depth: depth + 1) }
        case (.object(let a), .object(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        default:
            if let a = numeric, let b = other.numeric {
                if let x = integer, let y = other.integer { return x == y }
                return a == b
            }
            if case .opaque(let a) = self, case .opaque(let b) = other,
                case .namespace(let x) = a.kind, case .namespace(let y) = b.kind
            {
                return x == y
            }
            return false
        }
    }
}

// MARK: - Python str() and repr()

extension Value {
    /// Python's `str()` of the value; undefined gives "".
    var pythonStr: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python's `repr()` of the value.
    var pythonRepr: String { pythonRepr(depth: 0) }

    func pythonRepr(depth: Int) -> String {
        if depth > Value.maxNesting {
            switch self {
            case .array: return "[...]"
            case .tuple: return "(...)"
            case .object: return "{...}"
            default: break
            }
        }
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PythonFloat.repr(d)
        case .string(let s): return PythonString.repr(s)
        case .array(let a): return "[" + a.map { $0.pythonRepr(depth: depth + 1) }.joined(separator: ", ") + "]"
        case .tuple(let a):
            if a.count == 1 { return "(" + a[0].pythonRepr(depth: depth + 1) + ",)" }
            return "(" + a.map { $0.pythonRepr(depth: depth + 1) }.joined(separator: ", ") + ")"
        case .object(let o):
            return "{"
                + o.pairs.map { PythonString.repr($0.key) + ": " + $0.value.pythonRepr(depth: depth + 1) }
                .joined(separator: ", ") + "}"
        case .opaque(let o):
            switch o.kind {
            case .builtin(let name): return "<built-in function \(name)>"
            case .boundMethod(_, let name): return "<built-in method \(name)>"
            case .macro(let m): return "<Macro '\(m.name)'>"
            case .namespace: return "<Namespace>"
            case .loop: return "<LoopContext>"
            }
        }
    }
}

/// Python's float repr (shortest round-trip digits; exponent form below 1e-4 and from 1e16).
enum PythonFloat {
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the shortest round-trip digits; re-format them Python's way.
        let text = "\(d.magnitude)"
        var mantissa = text
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var digits: String
        var pointPosition: Int  // digits before the decimal point, relative to `digits`
        if let dot = mantissa.firstIndex(of: ".") {
            let intPart = String(mantissa[..<dot])
            let fracPart = String(mantissa[mantissa.index(after: dot)...])
            digits = intPart + fracPart
            pointPosition = intPart.count + exponent
        } else {
            digits = mantissa
            pointPosition = mantissa.count + exponent
        }
        // Normalise: drop leading zeros (moving the point) and trailing zeros.
        while digits.count > 1, digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.count > 1, digits.last == "0" { digits.removeLast() }
        let exp10 = pointPosition - 1
        let sign = d < 0 ? "-" : ""
        if exp10 < -4 || exp10 >= 16 {
            var out = String(digits.prefix(1))
            if digits.count > 1 { out += "." + digits.dropFirst() }
            let e = abs(exp10)
            out += (exp10 < 0 ? "e-" : "e+") + (e < 10 ? "0\(e)" : "\(e)")
            return sign + out
        }
        if pointPosition <= 0 {
            return sign + "0." + String(repeating: "0", count: -pointPosition) + digits
        }
        if pointPosition >= digits.count {
            return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0"
        }
        let cut = digits.index(digits.startIndex, offsetBy: pointPosition)
        return sign + digits[..<cut] + "." + digits[cut...]
    }
}

/// Python's string repr and the character classes Python's string methods use.
enum PythonString {
    static func repr(_ s: String) -> String {
        let useDouble = s.contains("'") && !s.contains("\"")
        let quote: Character = useDouble ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else {
                    let v = scalar.value
                    if v < 0x100 {
                        out += "\\x" + hex(v, 2)
                    } else if v < 0x10000 {
                        out += "\\u" + hex(v, 4)
                    } else {
                        out += "\\U" + hex(v, 8)
                    }
                }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// Python's `str.isprintable` for one character.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Python's `str.isspace` for one character.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}
