/// The element types a safetensors file can hold.
///
/// `f32`, `f16` and `bf16` are *computed*: merge kernels widen them to `Float` exactly and round
/// results back with round-to-nearest-even. Every other type is carried through unchanged.
public enum DType: String, Sendable, CaseIterable, Hashable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8e5m2 = "F8_E5M2"
    case f8e4m3 = "F8_E4M3"
    case f8e8m0 = "F8_E8M0"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: 1
        case .i16, .u16, .f16, .bf16: 2
        case .i32, .u32, .f32: 4
        case .f64, .i64, .u64: 8
        }
    }

    /// Whether merge kernels compute on this type (the others are copied unchanged).
    public var isComputed: Bool { self == .f32 || self == .f16 || self == .bf16 }

    public var isFloatingPoint: Bool {
        switch self {
        case .f8e5m2, .f8e4m3, .f8e8m0, .f16, .bf16, .f32, .f64: true
        default: false
        }
    }

    /// Position in the safetensors library's dtype order; its writer sorts tensors by this
    /// value descending, then by name, so following it gives byte-identical files.
    public var safetensorsOrder: Int {
        switch self {
        case .bool: 0
        case .u8: 4
        case .i8: 5
        case .f8e5m2: 6
        case .f8e4m3: 7
        case .f8e8m0: 8
        case .i16: 9
        case .u16: 10
        case .f16: 11
        case .bf16: 12
        case .i32: 13
        case .u32: 14
        case .f32: 15
        case .f64: 16
        case .i64: 17
        case .u64: 18
        }
    }

    /// The PyTorch / mergekit / config.json spelling (`bfloat16`, `float32`, …).
    public var torchName: String {
        switch self {
        case .bool: "bool"
        case .u8: "uint8"
        case .i8: "int8"
        case .f8e5m2: "float8_e5m2"
        case .f8e4m3: "float8_e4m3fn"
        case .f8e8m0: "float8_e8m0fnu"
        case .i16: "int16"
        case .u16: "uint16"
        case .f16: "float16"
        case .bf16: "bfloat16"
        case .i32: "int32"
        case .u32: "uint32"
        case .f32: "float32"
        case .f64: "float64"
        case .i64: "int64"
        case .u64: "uint64"
        }
    }

    /// Parses a dtype as mergekit's YAML accepts it: `bfloat16`, `float16`, `float32`, `float64`
    /// (an optional `torch.` prefix is stripped). Abbreviations such as `bf16` are refused, as
    /// mergekit refuses them, so a config means the same thing in both tools.
    public init?(mergekitName: String) {
        var name = mergekitName
        if name.hasPrefix("torch.") { name.removeFirst(6) }
        switch name {
        case "bfloat16": self = .bf16
        case "float16": self = .f16
        case "float32": self = .f32
        case "float64": self = .f64
        default: return nil
        }
    }

    /// PyTorch's type promotion for two floating types: equal → itself, bf16+f16 → f32,
    /// anything with a wider type → the wider one.
    public static func promote(_ a: DType, _ b: DType) -> DType {
        if a == b { return a }
        if a == .f64 || b == .f64 { return .f64 }
        return .f32
    }
}
