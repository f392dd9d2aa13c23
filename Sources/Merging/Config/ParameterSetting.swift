/// One scalar a parameter can take in mergekit YAML.
public enum ParameterScalar: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)
    case string(String)

    public var description: String {
        switch self {
        case .number(let v): v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
        case .bool(let b): String(b)
        case .string(let s): s
        }
    }
}

/// A parameter setting as mergekit YAML writes it:
/// `setting := scalar | gradient | [{filter, value}, …]` (a single `{filter, value}` is accepted too).
public indirect enum ParameterSetting: Sendable, Equatable, CustomStringConvertible {
    case scalar(ParameterScalar)
    /// A list of scalars interpolated over the layers of a slice.
    case gradient([ParameterScalar])
    /// Entries tried in order; the first whose filter is absent, `*`, or a substring of the
    /// tensor name gives the value.
    case conditional([(filter: String?, value: ParameterSetting)])

    public static func == (a: ParameterSetting, b: ParameterSetting) -> Bool {
        switch (a, b) {
        case let (.scalar(x), .scalar(y)): x == y
        case let (.gradient(x), .gradient(y)): x == y
        case let (.conditional(x), .conditional(y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.filter == $1.filter && $0.value == $1.value }
        default: false
        }
    }

    public var description: String {
        switch self {
        case .scalar(let s): s.description
        case .gradient(let g): "[" + g.map(\.description).joined(separator: ", ") + "]"
        case .conditional(let c):
            "[" + c.map { "{filter: \($0.filter ?? "*"), value: \($0.value)}" }.joined(separator: ", ") + "]"
        }
    }

    /// Whether any part of the setting is a gradient.
    public var containsGradient: Bool {
        switch self {
        case .scalar: false
        case .gradient: true
        case .conditional(let c): c.contains { $0.value.containsGradient }
        }
    }

    /// Every scalar the setting can produce.
    public var scalars: [ParameterScalar] {
        switch self {
        case .scalar(let s): [s]
        case .gradient(let g): g
        case .conditional(let c): c.flatMap { $0.value.scalars }
        }
    }

    /// The value for tensor `name` at gradient position `t` ∈ [0, 1], or nil when no
    /// conditional entry matches (the next scope is then asked).
    public func evaluate(tensor name: String, t: Double) -> ParameterScalar? {
        switch self {
        case .scalar(let s):
            return s
        case .gradient(let values):
            guard !values.isEmpty else { return nil }
            if values.count == 1 { return values[0] }
            let p = t * Double(values.count - 1)
            let i = min(values.count - 1, max(0, Int(p.rounded(.down))))
            let j = min(values.count - 1, i + 1)
            let f = p - Double(i)
            if case .number(let a) = values[i], case .number(let b) = values[j] {
                return .number((1 - f) * a + f * b)
            }
            return values[i]
        case .conditional(let entries):
            for entry in entries {
                if let filter = entry.filter, filter != "*", !name.contains(filter) { continue }
                return entry.value.evaluate(tensor: name, t: t)
            }
            return nil
        }
    }
}
