/// Turns physical values into `ParquetValue`s by their logical type.
enum Conversion {
    static func value(_ values: ColumnValues, _ i: Int, _ leaf: LeafColumn) throws(DecodeError) -> ParquetValue {
        switch values {
        case .boolean(let v): return .bool(v[i])
        case .int32(let v):
            let x = v[i]
            switch leaf.logicalType {
            case .integer(_, signed: false): return .int(Int64(UInt32(bitPattern: x)))
            case .date: return .string(date(days: Int64(x)))
            case .time(let unit, _): return .string(time(Int64(x), unit))
            case .decimal(let scale, _):
                return .string(decimal(digits: String(x.magnitude), negative: x < 0, scale: scale))
            default: return .int(Int64(x))
            }
        case .int64(let v):
            let x = v[i]
            switch leaf.logicalType {
            case .integer(_, signed: false) where x < 0: return .string(String(UInt64(bitPattern: x)))
            case .timestamp(let unit, let utc): return .string(timestamp(x, unit, utc: utc))
            case .time(let unit, _): return .string(time(x, unit))
            case .decimal(let scale, _):
                return .string(decimal(digits: String(x.magnitude), negative: x < 0, scale: scale))
            default: return .int(x)
            }
        case .float(let v): return .double(Double(v[i]))
        case .double(let v): return .double(v[i])
        case .bytes(let v):
            let r = v.range(i)
            switch leaf.logicalType {
            case .string, .json, .enumeration:
                // UTF-8 was checked for the whole chunk (`ColumnReader.checkUTF8`).
                return .string(v.data.withUnsafeBufferPointer {
                    String(decoding: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self)
                })
            case .decimal(let scale, _): return .string(bigDecimal(Array(v.data[r]), scale: scale))
            default: return .bytes(Array(v.data[r]))
            }
        case .fixed(let w, let d):
            let bytes = d[i * w..<i * w + w]
            if leaf.type == .int96 {
                let lo = bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self).littleEndian }
                let day = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: Int32.self).littleEndian }
                let nanos = (Int64(day) - 2_440_588) &* 86_400_000_000_000 &+ lo
                return .string(timestamp(nanos, .nanos, utc: false))
            }
            switch leaf.logicalType {
            case .decimal(let scale, _): return .string(bigDecimal(Array(bytes), scale: scale))
            case .string: return try string(bytes, leaf)
            case .float16 where w == 2:
                let bits = UInt16(bytes[bytes.startIndex]) | UInt16(bytes[bytes.startIndex + 1]) << 8
                return .double(Double(Float16(bitPattern: bits)))
            default: return .bytes(Array(bytes))
            }
        }
    }

    private static func string(_ bytes: ArraySlice<UInt8>, _ leaf: LeafColumn) throws(DecodeError) -> ParquetValue {
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw DecodeError("column \(leaf.dottedPath) holds a string that is not UTF-8")
        }
        return .string(s)
    }

    // MARK: - Dates and times (proleptic Gregorian, as Python's datetime)

    /// `YYYY-MM-DD` for days since 1970-01-01.
    static func date(days: Int64) -> String {
        let (y, m, d) = civil(days)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    /// Howard Hinnant's days-to-civil.
    private static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func perSecond(_ unit: TimeUnit) -> Int64 {
        switch unit {
        case .millis: 1000
        case .micros: 1_000_000
        case .nanos: 1_000_000_000
        }
    }

    /// `HH:MM:SS[.ffffff]` of a time of day, `ticks` in `unit`.
    static func time(_ ticks: Int64, _ unit: TimeUnit) -> String {
        let per = perSecond(unit)
        let (seconds, fraction) = floorDivide(ticks, per)
        return clock(seconds, fraction: fraction, unit: unit)
    }

    static func timestamp(_ ticks: Int64, _ unit: TimeUnit, utc: Bool) -> String {
        let per = perSecond(unit)
        let (seconds, fraction) = floorDivide(ticks, per)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        return date(days: days) + "T" + clock(secondOfDay, fraction: fraction, unit: unit) + (utc ? "+00:00" : "")
    }

    private static func clock(_ seconds: Int64, fraction: Int64, unit: TimeUnit) -> String {
        var out = pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        // Python shows microseconds when they are not zero; nanoseconds need nine digits.
        let nanos = fraction * (1_000_000_000 / perSecond(unit))
        if nanos % 1000 != 0 {
            out += "." + pad(nanos, 9)
        } else if nanos != 0 {
            out += "." + pad(nanos / 1000, 6)
        }
        return out
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b, r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let digits = String(v.magnitude)
        let body = digits.count < width ? String(repeating: "0", count: width - digits.count) + digits : digits
        return v < 0 ? "-" + body : body
    }

    // MARK: - Decimals

    /// A big-endian two's-complement unscaled value, as `str(Decimal)` writes it.
    static func bigDecimal(_ bytes: [UInt8], scale: Int32) -> String {
        guard let first = bytes.first else { return decimal(digits: "0", negative: false, scale: scale) }
        let negative = first & 0x80 != 0
        var magnitude = bytes
        if negative {
            // Two's complement: invert and add one.
            var carry = true
            for k in magnitude.indices.reversed() {
                magnitude[k] = ~magnitude[k]
                if carry {
                    magnitude[k] &+= 1
                    carry = magnitude[k] == 0
                }
            }
        }
        // Repeated division by 10^9 over the big-endian bytes.
        var digits: [String] = []
        var number = magnitude.drop { $0 == 0 }.map { UInt32($0) }
        while !number.isEmpty {
            var remainder: UInt64 = 0
            var next: [UInt32] = []
            for b in number {
                let cur = remainder << 8 | UInt64(b)
                let q = cur / 1_000_000_000
                remainder = cur % 1_000_000_000
                if !(next.isEmpty && q == 0) { next.append(UInt32(q)) }
            }
            digits.append(String(remainder))
            // Each quotient digit is below 256 (remainder < 10^9), so `next` is base 256 again.
            number = next
        }
        var text = ""
        for (k, chunk) in digits.reversed().enumerated() {
            text += k == 0 ? chunk : String(repeating: "0", count: 9 - chunk.count) + chunk
        }
        return decimal(digits: text.isEmpty ? "0" : text, negative: negative, scale: scale)
    }

    /// Python's `Decimal.__str__` for the coefficient `digits` and exponent `-scale`.
    static func decimal(digits: String, negative: Bool, scale: Int32) -> String {
        let exponent = -Int(scale)
        let adjusted = exponent + digits.count - 1
        let sign = negative ? "-" : ""
        if exponent <= 0 && adjusted >= -6 {
            if exponent == 0 { return sign + digits }
            let point = digits.count + exponent
            if point > 0 {
                let cut = digits.index(digits.startIndex, offsetBy: point)
                return sign + digits[..<cut] + "." + digits[cut...]
            }
            return sign + "0." + String(repeating: "0", count: -point) + digits
        }
        let head = digits.prefix(1), tail = digits.dropFirst()
        let e = adjusted >= 0 ? "+" + String(adjusted) : String(adjusted)
        return sign + head + (tail.isEmpty ? "" : "." + tail) + "E" + e
    }
}
