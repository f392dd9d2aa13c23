/// Limits that keep hostile files from taking unbounded memory.
public struct ParquetLimits: Sendable {
    /// The largest uncompressed page accepted (a larger declared size is refused as a bomb).
    public var maxPageBytes: Int
    /// The most values (levels included) one page may declare.
    public var maxPageValues: Int

    public init(maxPageBytes: Int = 256 << 20, maxPageValues: Int = 1 << 24) {
        self.maxPageBytes = maxPageBytes
        self.maxPageValues = maxPageValues
    }
}

/// One column chunk decoded: levels for every entry and the non-null values.
struct ColumnData {
    /// Definition levels, one per entry; empty when the column's maximum is 0.
    var definitions: [Int16] = []
    /// Repetition levels, one per entry; empty when the column's maximum is 0.
    var repetitions: [Int16] = []
    var values: ColumnValues
    /// Entries (levels) in all.
    var count = 0
}

/// Decodes column chunks from the mapped file.
struct ColumnReader {
    let file: UnsafeRawBufferPointer
    let limits: ParquetLimits

    func read(_ chunk: ColumnChunk, _ leaf: LeafColumn) throws(DecodeError) -> ColumnData {
        guard chunk.filePath == nil || chunk.filePath == "" else {
            throw DecodeError(
                "the column chunk lives in another file (\(chunk.filePath ?? "")), which is not supported",
                code: .unsupported)
        }
        guard let codec = Codec(rawValue: chunk.codec) else {
            throw DecodeError("unknown compression codec \(chunk.codec)", code: .unsupported)
        }
        guard chunk.type == leaf.type else { throw DecodeError("the column chunk's type does not match the schema") }
        // An empty chunk (of an empty row group) may have no pages at all.
        if chunk.numValues == 0 { return ColumnData(values: ColumnValues(type: leaf.type, width: leaf.typeLength)) }
        var start = chunk.dataPageOffset
        if let d = chunk.dictionaryPageOffset, d > 0, d < start { start = d }
        let size = chunk.totalCompressedSize
        guard start >= 4, size >= 0, start <= Int64(file.count), size <= Int64(file.count) - start else {
            throw DecodeError("the column chunk (offset \(start), \(size) bytes) lies outside the file")
        }
        guard chunk.numValues >= 0 else { throw DecodeError("the column chunk has a negative value count") }
        let end = Int(start + size)
        var position = Int(start)
        var data = ColumnData(values: ColumnValues(type: leaf.type, width: leaf.typeLength))
        var dictionary: ColumnValues?
        var page = 0
        var buffer: [UInt8] = []
        while data.count < chunk.numValues {
            guard position < end else {
                throw DecodeError("the column chunk ends after \(data.count) of its \(chunk.numValues) values")
            }
            var thrift = ThriftReader(UnsafeRawBufferPointer(rebasing: file[position..<end]))
            let header: PageHeader
            do throws(DecodeError) {
                header = try PageHeader(thrift: &thrift)
            } catch {
                throw DecodeError("page \(page) header: \(error.message)")
            }
            position += thrift.position
            guard header.uncompressedSize <= limits.maxPageBytes else {
                throw DecodeError("page \(page) declares \(header.uncompressedSize) uncompressed bytes, "
                    + "above the limit of \(limits.maxPageBytes)", code: .tooLarge)
            }
            guard header.compressedSize <= end - position else {
                throw DecodeError("page \(page) header points past the end of the column chunk "
                    + "(\(header.compressedSize) bytes from offset \(position))")
            }
            let body = UnsafeRawBufferPointer(rebasing: file[position..<position + header.compressedSize])
            position += header.compressedSize
            guard header.type == PageType.dictionaryPage.rawValue
                    || Int64(header.numValues) <= chunk.numValues - Int64(data.count) else {
                throw DecodeError("page \(page) holds more values than the column chunk's \(chunk.numValues)")
            }
            guard header.numValues <= limits.maxPageValues else {
                throw DecodeError("page \(page) declares \(header.numValues) values, above the limit of "
                    + "\(limits.maxPageValues)", code: .tooLarge)
            }
            do throws(DecodeError) {
                switch PageType(rawValue: header.type) {
                case .dictionaryPage:
                    guard header.hasTypeHeader else { throw DecodeError("dictionary page without its header") }
                    guard dictionary == nil else { throw DecodeError("a second dictionary page") }
                    try decompress(codec, body, size: header.uncompressedSize, into: &buffer)
                    var values = ColumnValues(type: leaf.type, width: leaf.typeLength)
                    guard header.encoding == Encoding.plain.rawValue
                            || header.encoding == Encoding.plainDictionary.rawValue else {
                        throw DecodeError("dictionary in \(Encoding.name(header.encoding))", code: .unsupported)
                    }
                    try withBytes(buffer, count: header.uncompressedSize) { bytes throws(DecodeError) in
                        try ValueDecoding.plain(bytes, count: header.numValues, into: &values)
                    }
                    dictionary = values
                case .dataPage:
                    guard header.hasTypeHeader else { throw DecodeError("data page without its header") }
                    try decompress(codec, body, size: header.uncompressedSize, into: &buffer)
                    try withBytes(buffer, count: header.uncompressedSize) { bytes throws(DecodeError) in
                        var c = ByteCursor(bytes)
                        let reps = try levels(&c, max: leaf.maxRepetition, count: header.numValues,
                                              encoding: header.repetitionLevelEncoding, what: "repetition")
                        let defs = try levels(&c, max: leaf.maxDefinition, count: header.numValues,
                                              encoding: header.definitionLevelEncoding, what: "definition")
                        try append(&data, leaf, header, reps: reps, defs: defs,
                                   values: UnsafeRawBufferPointer(rebasing: bytes[c.position...]), dictionary)
                    }
                case .dataPageV2:
                    guard header.hasTypeHeader else { throw DecodeError("data page without its header") }
                    let levelBytes = header.repetitionLevelsLength + header.definitionLevelsLength
                    guard levelBytes <= body.count, levelBytes <= header.uncompressedSize else {
                        throw DecodeError("the level lengths run past the page")
                    }
                    let split = header.repetitionLevelsLength
                    let reps = try v2Levels(UnsafeRawBufferPointer(rebasing: body[0..<split]),
                                            max: leaf.maxRepetition, count: header.numValues, what: "repetition")
                    let defs = try v2Levels(UnsafeRawBufferPointer(rebasing: body[split..<levelBytes]),
                                            max: leaf.maxDefinition, count: header.numValues, what: "definition")
                    let rest = UnsafeRawBufferPointer(rebasing: body[levelBytes...])
                    if header.isCompressed && codec != .uncompressed {
                        let size = header.uncompressedSize - levelBytes
                        try decompress(codec, rest, size: size, into: &buffer)
                        try withBytes(buffer, count: size) { (bytes: UnsafeRawBufferPointer) throws(DecodeError) in
                            try append(&data, leaf, header, reps: reps, defs: defs, values: bytes, dictionary)
                        }
                    } else {
                        try append(&data, leaf, header, reps: reps, defs: defs, values: rest, dictionary)
                    }
                case .indexPage:
                    break
                case nil:
                    throw DecodeError("unknown page type \(header.type)")
                }
            } catch {
                throw DecodeError("page \(page): \(error.message)", code: error.code)
            }
            page += 1
        }
        guard data.count == chunk.numValues else {
            throw DecodeError("the column chunk holds \(data.count) values, its metadata says \(chunk.numValues)")
        }
        if case .bytes(let strings) = data.values, [.string, .json, .enumeration].contains(leaf.logicalType) {
            try Self.checkUTF8(strings)
        }
        return data
    }

    /// Checks that every value of a text column is UTF-8, all at once: the bytes as a whole are
    /// UTF-8 and no value starts (or ends) inside a character.
    static func checkUTF8(_ strings: ByteArrays) throws(DecodeError) {
        let valid = strings.data.withUnsafeBufferPointer { all in
            String(validating: all, as: UTF8.self) != nil
                && strings.offsets.allSatisfy { $0 == all.count || all[$0] & 0xC0 != 0x80 }
        }
        guard valid else { throw DecodeError("a text value is not UTF-8") }
    }

    private func decompress(
        _ codec: Codec, _ body: UnsafeRawBufferPointer, size: Int, into out: inout [UInt8]
    ) throws(DecodeError) {
        guard size >= 0 else { throw DecodeError("negative uncompressed size") }
        // Cheap checks before the buffer is allocated: no codec here expands without bound.
        switch codec {
        case .uncompressed:
            guard size == body.count else {
                throw DecodeError("uncompressed page holds \(body.count) bytes, header says \(size)")
            }
        case .gzip where size / 1100 > body.count + 1024:
            throw DecodeError("GZIP page of \(body.count) bytes cannot inflate to the \(size) its header declares")
        default: break
        }
        // One buffer per column chunk, grown as pages need, never cleared.
        if out.count < size { out.append(contentsOf: repeatElement(0, count: size - out.count)) }
        var failure: DecodeError?
        out.withUnsafeMutableBytes { buffer in
            let page = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
            do throws(DecodeError) { try Decompression.decompress(codec, body, into: page) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Data page v1 levels: nothing when the maximum is 0, else RLE with a 4-byte length.
    private func levels(
        _ c: inout ByteCursor, max: Int16, count: Int, encoding: Int32, what: StaticString
    ) throws(DecodeError) -> [UInt32] {
        if max == 0 { return [] }
        guard encoding == Encoding.rle.rawValue else {
            throw DecodeError("\(what) levels in \(Encoding.name(encoding))", code: .unsupported)
        }
        let n = try c.uint32LE()
        var decoder = try HybridDecoder(try c.take(n, "the levels"), width: Self.width(max))
        var out: [UInt32] = []
        try decoder.decode(count: count, into: &out)
        return out
    }

    private func v2Levels(
        _ bytes: UnsafeRawBufferPointer, max: Int16, count: Int, what: StaticString
    ) throws(DecodeError) -> [UInt32] {
        if max == 0 { return [] }
        var decoder = try HybridDecoder(bytes, width: Self.width(max))
        var out: [UInt32] = []
        try decoder.decode(count: count, into: &out)
        return out
    }

    static func width(_ max: Int16) -> Int { Int16.bitWidth - max.leadingZeroBitCount }

    private func append(
        _ data: inout ColumnData, _ leaf: LeafColumn, _ header: PageHeader, reps: [UInt32], defs: [UInt32],
        values: UnsafeRawBufferPointer, _ dictionary: ColumnValues?
    ) throws(DecodeError) {
        let n = header.numValues
        var present = n
        if leaf.maxDefinition > 0 {
            present = 0
            let top = UInt32(leaf.maxDefinition)
            data.definitions.reserveCapacity(data.definitions.count + n)
            for d in defs {
                guard d <= top else { throw DecodeError("definition level \(d) is above the maximum \(top)") }
                if d == top { present += 1 }
                data.definitions.append(Int16(d))
            }
        }
        if leaf.maxRepetition > 0 {
            let top = UInt32(leaf.maxRepetition)
            data.repetitions.reserveCapacity(data.repetitions.count + n)
            for r in reps {
                guard r <= top else { throw DecodeError("repetition level \(r) is above the maximum \(top)") }
                data.repetitions.append(Int16(r))
            }
        }
        switch Encoding(rawValue: header.encoding) {
        case .plain: try ValueDecoding.plain(values, count: present, into: &data.values)
        case .plainDictionary, .rleDictionary:
            guard let dictionary else { throw DecodeError("dictionary-encoded page without a dictionary page") }
            let indices = try ValueDecoding.dictionaryIndices(values, count: present)
            try data.values.appendGathered(from: dictionary, indices)
        case .rle: try ValueDecoding.rleBooleans(values, count: present, into: &data.values)
        case .deltaBinaryPacked: try ValueDecoding.deltaBinaryPacked(values, count: present, into: &data.values)
        case .deltaLengthByteArray: try ValueDecoding.deltaLengthByteArray(values, count: present, into: &data.values)
        case .deltaByteArray: try ValueDecoding.deltaByteArray(values, count: present, into: &data.values)
        case .byteStreamSplit: try ValueDecoding.byteStreamSplit(values, count: present, into: &data.values)
        case .bitPacked, nil:
            throw DecodeError("values in \(Encoding.name(header.encoding))", code: .unsupported)
        }
        data.count += n
    }
}

/// `Array.withUnsafeBytes` over the first `count` bytes, with a typed-throwing body.
func withBytes(
    _ array: [UInt8], count: Int, _ body: (UnsafeRawBufferPointer) throws(DecodeError) -> Void
) throws(DecodeError) {
    var failure: DecodeError?
    array.withUnsafeBytes { bytes in
        do throws(DecodeError) {
            try body(UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
        } catch {
            failure = error
        }
    }
    if let failure { throw failure }
}
