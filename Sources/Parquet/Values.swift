/// Variable-length byte strings packed in one buffer: value `i` is `data[offsets[i]..<offsets[i + 1]]`.
struct ByteArrays {
    var offsets: [Int] = [0]
    var data: [UInt8] = []

    var count: Int { offsets.count - 1 }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        data.append(contentsOf: bytes)
        offsets.append(data.count)
    }

    func range(_ i: Int) -> Range<Int> { offsets[i]..<offsets[i + 1] }
}

/// The non-null values of one column chunk (or one dictionary), in the physical type.
enum ColumnValues {
    case boolean([Bool])
    case int32([Int32])
    case int64([Int64])
    case float([Float])
    case double([Double])
    case bytes(ByteArrays)
    /// INT96 (width 12) and FIXED_LEN_BYTE_ARRAY values back to back.
    case fixed(width: Int, data: [UInt8])

    init(type: PhysicalType, width: Int) {
        switch type {
        case .boolean: self = .boolean([])
        case .int32: self = .int32([])
        case .int64: self = .int64([])
        case .float: self = .float([])
        case .double: self = .double([])
        case .byteArray: self = .bytes(ByteArrays())
        case .int96: self = .fixed(width: 12, data: [])
        case .fixedLenByteArray: self = .fixed(width: width, data: [])
        }
    }

    var count: Int {
        switch self {
        case .boolean(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .float(let v): v.count
        case .double(let v): v.count
        case .bytes(let v): v.count
        case .fixed(let w, let d): w == 0 ? 0 : d.count / w
        }
    }

    /// Appends `dictionary[i]` for each index, checking every index.
    mutating func appendGathered(from dictionary: ColumnValues, _ indices: [UInt32]) throws(DecodeError) {
        let n = UInt32(dictionary.count)
        for i in indices where i >= n {
            throw DecodeError("dictionary index \(i) is out of range (the dictionary has \(n) values)")
        }
        switch (self, dictionary) {
        case (.boolean(var v), .boolean(let d)):
            self = .int32([])
            for i in indices { v.append(d[Int(i)]) }
            self = .boolean(v)
        case (.int32(var v), .int32(let d)):
            self = .int32([])
            for i in indices { v.append(d[Int(i)]) }
            self = .int32(v)
        case (.int64(var v), .int64(let d)):
            self = .int32([])
            for i in indices { v.append(d[Int(i)]) }
            self = .int64(v)
        case (.float(var v), .float(let d)):
            self = .int32([])
            for i in indices { v.append(d[Int(i)]) }
            self = .float(v)
        case (.double(var v), .double(let d)):
            self = .int32([])
            for i in indices { v.append(d[Int(i)]) }
            self = .double(v)
        case (.bytes(var v), .bytes(let d)):
            self = .int32([])
            v.offsets.reserveCapacity(v.offsets.count + indices.count)
            for i in indices {
                let r = d.range(Int(i))
                v.data.append(contentsOf: d.data[r])
                v.offsets.append(v.data.count)
            }
            self = .bytes(v)
        case (.fixed(let w, var v), .fixed(let dw, let d)) where w == dw:
            self = .int32([])
            for i in indices { v.append(contentsOf: d[Int(i) * w..<Int(i) * w + w]) }
            self = .fixed(width: w, data: v)
        default:
            throw DecodeError("the dictionary's type does not match the column's")
        }
    }
}
