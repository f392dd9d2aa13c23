import Tensors

/// One tensor's entry in a safetensors header, validated.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the file.
    public let byteRange: Range<Int>

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { byteRange.count }
}

/// A `.safetensors` file, mapped and validated before anything in it is trusted.
///
/// Checks: the 8-byte little-endian header length is bounded (≤ 100 MB and inside the file);
/// the header is well-formed JSON of the expected shape; every dtype is known; shapes are
/// non-negative and their byte size (checked for overflow) equals the data range; ranges lie in
/// the file, do not overlap, leave no gaps and cover the data section exactly.
public final class SafetensorsFile: Sendable {
    /// Headers larger than this are refused (the safetensors library's own limit).
    public static let maxHeaderSize = 100_000_000

    public let file: MappedFile
    /// Tensors in the order of their data offsets.
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    private let byName: [String: Int]

    public var path: String { file.path }

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// One tensor held in memory as a safetensors file (`MappedFile(memory:name:)`): `fill` writes
    /// its `shape.product × dtype.size` bytes.
    public static func inMemory(
        name: String, tensor: String, dtype: DType, shape: [Int], fill: (UnsafeMutableRawPointer) throws -> Void
    ) throws -> SafetensorsFile {
        let byteCount = shape.reduce(1, *) * dtype.size
        var header = JSONValue.object([(tensor, .object([
            ("dtype", .string(dtype.rawValue)),
            ("shape", .array(shape.map { .number(String($0)) })),
            ("data_offsets", .array([.number("0"), .number(String(byteCount))])),
        ]))]).serialized(indent: nil)
        while header.utf8.count % 8 != 0 { header += " " }
        let headerBytes = Array(header.utf8)
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 + headerBytes.count + byteCount, alignment: 64)
        var n = UInt64(headerBytes.count)
        for i in 0..<8 { memory[i] = UInt8(truncatingIfNeeded: n); n >>= 8 }
        headerBytes.withUnsafeBytes { memory.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let file = MappedFile(memory: memory, name: name)
        try fill(memory.baseAddress!.advanced(by: 8 + headerBytes.count))
        return try SafetensorsFile(file: file)
    }

    public init(file: MappedFile) throws {
        let path = file.path
        self.file = file
        func corrupt(_ why: String) -> CheckpointError { CheckpointError(.corrupt, path: path, why) }
        guard file.size >= 8 else { throw corrupt("truncated: \(file.size) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(file.bytes.load(fromByteOffset: i, as: UInt8.self)) << (8 * UInt64(i)) }
        guard n <= UInt64(Self.maxHeaderSize) else { throw corrupt("header length \(n) exceeds the \(Self.maxHeaderSize)-byte limit") }
        let headerLength = Int(n)
        guard 8 + headerLength <= file.size else {
            throw corrupt("truncated: header of \(headerLength) bytes runs past the end of the \(file.size)-byte file")
        }
        let headerBytes = UnsafeRawBufferPointer(start: file.bytes + 8, count: headerLength)
        let header: JSONValue
        do {
            header = try JSONValue.parse(headerBytes, maxDepth: 8)
        } catch {
            throw corrupt("header is not valid JSON (\(error))")
        }
        guard case .object(let members) = header else { throw corrupt("header is not a JSON object") }
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var infos: [TensorInfo] = []
        var metadata: [String: String] = [:]
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw corrupt("tensor '\(name)' appears twice in the header") }
            if name == "__metadata__" {
                guard case .object(let kv) = value else { throw corrupt("__metadata__ is not an object") }
                for (k, v) in kv {
                    guard case .string(let s) = v else { throw corrupt("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object = value else { throw corrupt("entry for tensor '\(name)' is not an object") }
            guard let dtypeText = value["dtype"]?.stringValue else { throw corrupt("tensor '\(name)' has no dtype") }
            guard let dtype = DType(rawValue: dtypeText) else { throw corrupt("tensor '\(name)' has unknown dtype '\(dtypeText)'") }
            guard let shapeValues = value["shape"]?.arrayValue else { throw corrupt("tensor '\(name)' has no shape") }
            var shape: [Int] = []
            var elements = 1
            for dim in shapeValues {
                guard let d = dim.intValue, d >= 0 else { throw corrupt("tensor '\(name)' has an invalid shape entry") }
                shape.append(d)
                let (m, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, m <= Int(Int32.max) * 1024 else { throw corrupt("tensor '\(name)' shape \(shape) is too large") }
                elements = m
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, begin <= end
            else { throw corrupt("tensor '\(name)' has invalid data_offsets") }
            guard end <= dataSize else {
                throw corrupt("tensor '\(name)' data range [\(begin), \(end)) is out of bounds (data section is \(dataSize) bytes)")
            }
            guard end - begin == elements * dtype.size else {
                throw corrupt("tensor '\(name)': shape \(shape) of \(dtype.rawValue) needs \(elements * dtype.size) bytes but its range holds \(end - begin)")
            }
            infos.append(TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end)))
        }
        infos.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        var cursor = dataStart
        for info in infos {
            if info.byteRange.lowerBound < cursor {
                throw corrupt("tensor '\(info.name)' overlaps the previous tensor's data")
            }
            if info.byteRange.lowerBound > cursor {
                throw corrupt("gap of \(info.byteRange.lowerBound - cursor) bytes before tensor '\(info.name)'")
            }
            cursor = info.byteRange.upperBound
        }
        guard cursor == file.size else {
            throw corrupt("\(file.size - cursor) bytes after the last tensor's data (file is not a well-formed safetensors file)")
        }
        self.tensors = infos
        self.metadata = metadata
        var byName: [String: Int] = [:]
        for (i, t) in infos.enumerated() { byName[t.name] = i }
        self.byName = byName
    }

    public func info(_ name: String) -> TensorInfo? { byName[name].map { tensors[$0] } }

    /// Pointer to a tensor's first byte inside the mapping.
    public func data(_ info: TensorInfo) -> UnsafeRawPointer { file.bytes + info.byteRange.lowerBound }
}
