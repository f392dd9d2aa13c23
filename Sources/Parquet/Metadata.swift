/// Parquet's physical storage types.
public enum PhysicalType: Int32, Sendable {
    case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7
}

/// How often a field occurs in its parent.
public enum Repetition: Int32, Sendable {
    case required = 0, optional = 1, repeated = 2
}

/// Units of time and timestamp columns.
public enum TimeUnit: Sendable, Equatable {
    case millis, micros, nanos
}

/// What a column's values mean, from the logical type or the legacy converted type.
public enum LogicalType: Sendable, Equatable {
    case string, json, bson, enumeration, uuid, float16
    case map, list
    case decimal(scale: Int32, precision: Int32)
    case date
    case time(unit: TimeUnit, adjustedToUTC: Bool)
    case timestamp(unit: TimeUnit, adjustedToUTC: Bool)
    case integer(bitWidth: Int8, signed: Bool)
    case unknown
    /// The legacy `MAP_KEY_VALUE` converted type.
    case mapKeyValue
    case interval
}

/// One node of the flattened schema in the footer.
struct SchemaElement {
    var name: String = ""
    var type: PhysicalType?
    var typeLength: Int32 = 0
    var repetition: Repetition = .required
    var numChildren: Int = 0
    var logicalType: LogicalType?
}

/// Column chunk metadata: where one column of one row group lives and how it is stored.
public struct ColumnChunk: Sendable {
    public var type: PhysicalType = .boolean
    public var path: [String] = []
    public var codec: Int32 = 0
    public var numValues: Int64 = 0
    public var totalCompressedSize: Int64 = 0
    public var totalUncompressedSize: Int64 = 0
    public var dataPageOffset: Int64 = 0
    public var dictionaryPageOffset: Int64?
    /// Set when the chunk lives in another file, which this reader does not follow.
    public var filePath: String?
}

/// One horizontal slice of the file.
public struct RowGroup: Sendable {
    public var columns: [ColumnChunk] = []
    public var numRows: Int64 = 0
}

/// The decoded footer.
struct FileMetaData {
    var version: Int32 = 0
    var schema: [SchemaElement] = []
    var numRows: Int64 = 0
    var rowGroups: [RowGroup] = []
    var createdBy: String?
}

enum PageType: Int32 {
    case dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3
}

/// A page header with the fields this reader uses.
struct PageHeader {
    var type: Int32 = -1
    var uncompressedSize = 0
    var compressedSize = 0
    var numValues = 0
    var encoding: Int32 = 0
    var definitionLevelEncoding: Int32 = 3
    var repetitionLevelEncoding: Int32 = 3
    var numNulls = 0
    var numRows = 0
    var definitionLevelsLength = 0
    var repetitionLevelsLength = 0
    var isCompressed = true
    var hasTypeHeader = false
}

// MARK: - Decoding from Thrift

extension FileMetaData {
    init(thrift r: inout ThriftReader) throws(DecodeError) {
        var seen = (schema: false, numRows: false, rowGroups: false)
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .i32): version = try r.i32()
            case (2, .list):
                schema = try r.list { (r: inout ThriftReader, t) throws(DecodeError) in
                    try ThriftReader.expect(t, .structure, "schema")
                    return try SchemaElement(thrift: &r)
                }
                seen.schema = true
            case (3, .i64): numRows = try r.i64(); seen.numRows = true
            case (4, .list):
                rowGroups = try r.list { (r: inout ThriftReader, t) throws(DecodeError) in
                    try ThriftReader.expect(t, .structure, "row_groups")
                    return try RowGroup(thrift: &r)
                }
                seen.rowGroups = true
            case (6, .binary): createdBy = try? r.string()
            default: return false
            }
            return true
        }
        guard seen.schema, seen.numRows, seen.rowGroups else {
            throw DecodeError("footer lacks the schema, row count or row groups")
        }
    }
}

extension SchemaElement {
    init(thrift r: inout ThriftReader) throws(DecodeError) {
        var converted: Int32?
        var scale: Int32 = 0, precision: Int32 = 0
        var logical: LogicalType?
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .i32):
                let raw = try r.i32()
                guard let t = PhysicalType(rawValue: raw) else { throw DecodeError("unknown physical type \(raw)") }
                self.type = t
            case (2, .i32): typeLength = try r.i32()
            case (3, .i32):
                let raw = try r.i32()
                guard let rep = Repetition(rawValue: raw) else { throw DecodeError("unknown repetition \(raw)") }
                repetition = rep
            case (4, .binary): name = try r.string()
            case (5, .i32): numChildren = try r.size()
            case (6, .i32): converted = try r.i32()
            case (7, .i32): scale = try r.i32()
            case (8, .i32): precision = try r.i32()
            case (10, .structure): logical = try LogicalType.decode(&r)
            default: return false
            }
            return true
        }
        if let logical, logical != .unknown {
            logicalType = logical
        } else if let converted {
            logicalType = LogicalType(converted: converted, scale: scale, precision: precision)
        }
    }
}

extension LogicalType {
    /// The legacy converted type's meaning.
    init?(converted: Int32, scale: Int32, precision: Int32) {
        switch converted {
        case 0: self = .string
        case 1: self = .map
        case 2: self = .mapKeyValue
        case 3: self = .list
        case 4: self = .enumeration
        case 5: self = .decimal(scale: scale, precision: precision)
        case 6: self = .date
        case 7: self = .time(unit: .millis, adjustedToUTC: true)
        case 8: self = .time(unit: .micros, adjustedToUTC: true)
        case 9: self = .timestamp(unit: .millis, adjustedToUTC: true)
        case 10: self = .timestamp(unit: .micros, adjustedToUTC: true)
        case 11: self = .integer(bitWidth: 8, signed: false)
        case 12: self = .integer(bitWidth: 16, signed: false)
        case 13: self = .integer(bitWidth: 32, signed: false)
        case 14: self = .integer(bitWidth: 64, signed: false)
        case 15: self = .integer(bitWidth: 8, signed: true)
        case 16: self = .integer(bitWidth: 16, signed: true)
        case 17: self = .integer(bitWidth: 32, signed: true)
        case 18: self = .integer(bitWidth: 64, signed: true)
        case 19: self = .json
        case 20: self = .bson
        case 21: self = .interval
        default: return nil
        }
    }

    /// Reads the `LogicalType` union.
    static func decode(_ r: inout ThriftReader) throws(DecodeError) -> LogicalType? {
        var result: LogicalType?
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            guard type == .structure else { return false }
            switch id {
            case 1: result = .string
            case 2: result = .map
            case 3: result = .list
            case 4: result = .enumeration
            case 5:
                var scale: Int32 = 0, precision: Int32 = 0
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .i32): scale = try r.i32()
                    case (2, .i32): precision = try r.i32()
                    default: return false
                    }
                    return true
                }
                result = .decimal(scale: scale, precision: precision)
                return true
            case 6: result = .date
            case 7, 8:
                var utc = false
                var unit = TimeUnit.millis
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .boolTrue), (1, .boolFalse): utc = try ThriftReader.bool(type)
                    case (2, .structure): unit = try decodeUnit(&r)
                    default: return false
                    }
                    return true
                }
                result = id == 7 ? .time(unit: unit, adjustedToUTC: utc) : .timestamp(unit: unit, adjustedToUTC: utc)
                return true
            case 10:
                var width: Int8 = 64
                var signed = true
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .byte): width = Int8(truncatingIfNeeded: try r.byte())
                    case (2, .boolTrue), (2, .boolFalse): signed = try ThriftReader.bool(type)
                    default: return false
                    }
                    return true
                }
                result = .integer(bitWidth: width, signed: signed)
                return true
            case 11: result = .unknown
            case 12: result = .json
            case 13: result = .bson
            case 14: result = .uuid
            case 15: result = .float16
            default: return false
            }
            try r.skip(.structure)
            return true
        }
        return result
    }

    private static func decodeUnit(_ r: inout ThriftReader) throws(DecodeError) -> TimeUnit {
        var unit = TimeUnit.millis
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            guard type == .structure else { return false }
            switch id {
            case 1: unit = .millis
            case 2: unit = .micros
            case 3: unit = .nanos
            default: return false
            }
            try r.skip(.structure)
            return true
        }
        return unit
    }
}

extension RowGroup {
    init(thrift r: inout ThriftReader) throws(DecodeError) {
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .list):
                columns = try r.list { (r: inout ThriftReader, t) throws(DecodeError) in
                    try ThriftReader.expect(t, .structure, "columns")
                    return try ColumnChunk(thrift: &r)
                }
            case (3, .i64): numRows = try r.i64()
            default: return false
            }
            return true
        }
    }
}

extension ColumnChunk {
    init(thrift r: inout ThriftReader) throws(DecodeError) {
        var hasMeta = false
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .binary): filePath = try r.string()
            case (3, .structure): try readMetaData(&r); hasMeta = true
            default: return false
            }
            return true
        }
        guard hasMeta else { throw DecodeError("a column chunk has no metadata") }
    }

    private mutating func readMetaData(_ r: inout ThriftReader) throws(DecodeError) {
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .i32):
                let raw = try r.i32()
                guard let t = PhysicalType(rawValue: raw) else { throw DecodeError("unknown physical type \(raw)") }
                self.type = t
            case (3, .list):
                path = try r.list { (r: inout ThriftReader, t) throws(DecodeError) in
                    try ThriftReader.expect(t, .binary, "path_in_schema")
                    return try r.string()
                }
            case (4, .i32): codec = try r.i32()
            case (5, .i64): numValues = try r.i64()
            case (6, .i64): totalUncompressedSize = try r.i64()
            case (7, .i64): totalCompressedSize = try r.i64()
            case (9, .i64): dataPageOffset = try r.i64()
            case (11, .i64): dictionaryPageOffset = try r.i64()
            default: return false
            }
            return true
        }
    }
}

extension PageHeader {
    init(thrift r: inout ThriftReader) throws(DecodeError) {
        try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
            switch (id, type) {
            case (1, .i32): self.type = try r.i32()
            case (2, .i32): uncompressedSize = try r.size()
            case (3, .i32): compressedSize = try r.size()
            case (5, .structure):
                hasTypeHeader = true
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .i32): numValues = try r.size()
                    case (2, .i32): encoding = try r.i32()
                    case (3, .i32): definitionLevelEncoding = try r.i32()
                    case (4, .i32): repetitionLevelEncoding = try r.i32()
                    default: return false
                    }
                    return true
                }
            case (7, .structure):
                hasTypeHeader = true
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .i32): numValues = try r.size()
                    case (2, .i32): encoding = try r.i32()
                    default: return false
                    }
                    return true
                }
            case (8, .structure):
                hasTypeHeader = true
                try r.readStruct { (r: inout ThriftReader, id, type) throws(DecodeError) in
                    switch (id, type) {
                    case (1, .i32): numValues = try r.size()
                    case (2, .i32): numNulls = try r.size()
                    case (3, .i32): numRows = try r.size()
                    case (4, .i32): encoding = try r.i32()
                    case (5, .i32): definitionLevelsLength = try r.size()
                    case (6, .i32): repetitionLevelsLength = try r.size()
                    case (7, .boolTrue), (7, .boolFalse): isCompressed = try ThriftReader.bool(type)
                    default: return false
                    }
                    return true
                }
            default: return false
            }
            return true
        }
    }
}
