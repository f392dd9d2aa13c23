/// Rebuilds records from decoded leaf columns (record shredding reversed).
struct Assembler {
    struct Cursor {
        var entry = 0
        var value = 0
    }

    let plans: [AssemblyPlan]
    /// Per plan, per leaf slot: the decoded column and its description.
    let columns: [[ColumnData]]
    let leaves: [[LeafColumn]]
    var cursors: [[Cursor]]

    init(plans: [AssemblyPlan], columns: [[ColumnData]], leaves: [[LeafColumn]]) {
        self.plans = plans
        self.columns = columns
        self.leaves = leaves
        cursors = columns.map { [Cursor](repeating: Cursor(), count: $0.count) }
    }

    /// The next row's value of every planned field.
    mutating func nextRow(names: [String]) throws(DecodeError) -> ParquetRecord {
        var fields: [ParquetField] = []
        fields.reserveCapacity(plans.count)
        for p in plans.indices {
            let first = plans[p].nodes[plans[p].root].leaves.lowerBound
            let c = cursors[p][first]
            let column = columns[p][first]
            guard c.entry < column.count else {
                throw DecodeError("column \(leaves[p][first].dottedPath) has fewer rows than the row group")
            }
            if !column.repetitions.isEmpty && column.repetitions[c.entry] != 0 {
                throw DecodeError("column \(leaves[p][first].dottedPath) does not start a row where one is due")
            }
            fields.append(ParquetField(name: names[p], value: try read(p, plans[p].root)))
        }
        return ParquetRecord(fields: fields)
    }

    /// Appends the next row as one compact JSON object — the bytes `nextRow(names:).appendJSON(to:)`
    /// would give — without building its values: text leaves are escaped straight from the column's
    /// bytes. `quotedNames` holds each planned field's name already quoted.
    mutating func writeRow(quotedNames: [[UInt8]], into out: inout [UInt8]) throws(DecodeError) {
        out.append(UInt8(ascii: "{"))
        for p in plans.indices {
            let first = plans[p].nodes[plans[p].root].leaves.lowerBound
            let c = cursors[p][first]
            let column = columns[p][first]
            guard c.entry < column.count else {
                throw DecodeError("column \(leaves[p][first].dottedPath) has fewer rows than the row group")
            }
            if !column.repetitions.isEmpty && column.repetitions[c.entry] != 0 {
                throw DecodeError("column \(leaves[p][first].dottedPath) does not start a row where one is due")
            }
            if p > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: quotedNames[p])
            out.append(UInt8(ascii: ":"))
            try write(p, plans[p].root, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `read(p, index).appendJSON(to: &out)`, without the value.
    private mutating func write(_ p: Int, _ index: Int, into out: inout [UInt8]) throws(DecodeError) {
        let node = plans[p].nodes[index]
        let first = node.leaves.lowerBound
        let d = try definition(p, first)
        if node.nullable && d < node.definition {
            try skip(p, node.leaves)
            out.append(contentsOf: "null".utf8)
            return
        }
        switch node.kind {
        case .leaf(let slot):
            let leaf = leaves[p][slot]
            guard d == leaf.maxDefinition else {
                throw DecodeError("column \(leaf.dottedPath) has definition level \(d) where a value is required")
            }
            let v = cursors[p][slot].value
            if case .bytes(let strings) = columns[p][slot].values, v < strings.count,
               leaf.logicalType == .string || leaf.logicalType == .json || leaf.logicalType == .enumeration {
                // UTF-8 was checked for the whole chunk (`ColumnReader.checkUTF8`).
                cursors[p][slot].entry += 1
                cursors[p][slot].value += 1
                let r = strings.range(v)
                strings.data.withUnsafeBufferPointer {
                    ParquetValue.appendQuoted(UnsafeBufferPointer(rebasing: $0[r]), to: &out)
                }
                return
            }
            try read(p, index).appendJSON(to: &out)
        case .group(let names, let children):
            out.append(UInt8(ascii: "{"))
            for (k, (name, child)) in zip(names, children).enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                ParquetValue.appendQuoted(name, to: &out)
                out.append(UInt8(ascii: ":"))
                try write(p, child, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .list(let element, let repeatedDefinition, let level):
            if d < repeatedDefinition {
                try skip(p, node.leaves)
                out.append(contentsOf: "[]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            var k = 0
            repeat {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                try write(p, element, into: &out)
                k += 1
            } while continues(p, first, level)
            out.append(UInt8(ascii: "]"))
        case .map:
            try read(p, index).appendJSON(to: &out)
        }
    }

    /// Checks that every column was used up exactly.
    func finish() throws(DecodeError) {
        for p in plans.indices {
            for slot in columns[p].indices where cursors[p][slot].entry != columns[p][slot].count {
                throw DecodeError("column \(leaves[p][slot].dottedPath) has more values than the row group's rows")
            }
        }
    }

    private func definition(_ p: Int, _ slot: Int) throws(DecodeError) -> Int16 {
        let column = columns[p][slot]
        let e = cursors[p][slot].entry
        guard e < column.count else { throw DecodeError("column \(leaves[p][slot].dottedPath) ends inside a row") }
        return column.definitions.isEmpty ? 0 : column.definitions[e]
    }

    /// Moves every leaf of a null or empty node past its one entry.
    private mutating func skip(_ p: Int, _ slots: Range<Int>) throws(DecodeError) {
        for slot in slots {
            let d = try definition(p, slot)
            if d == leaves[p][slot].maxDefinition { cursors[p][slot].value += 1 }
            cursors[p][slot].entry += 1
        }
    }

    private mutating func read(_ p: Int, _ index: Int) throws(DecodeError) -> ParquetValue {
        let node = plans[p].nodes[index]
        let first = node.leaves.lowerBound
        let d = try definition(p, first)
        if node.nullable && d < node.definition {
            try skip(p, node.leaves)
            return .null
        }
        switch node.kind {
        case .leaf(let slot):
            let leaf = leaves[p][slot]
            guard d == leaf.maxDefinition else {
                throw DecodeError("column \(leaf.dottedPath) has definition level \(d) where a value is required")
            }
            let v = cursors[p][slot].value
            guard v < columns[p][slot].values.count else {
                throw DecodeError("column \(leaf.dottedPath) has fewer values than its levels say")
            }
            cursors[p][slot].entry += 1
            cursors[p][slot].value += 1
            return try Conversion.value(columns[p][slot].values, v, leaf)
        case .group(let names, let children):
            var fields: [ParquetField] = []
            fields.reserveCapacity(children.count)
            for (name, child) in zip(names, children) {
                fields.append(ParquetField(name: name, value: try read(p, child)))
            }
            return .object(fields)
        case .list(let element, let repeatedDefinition, let level):
            if d < repeatedDefinition {
                try skip(p, node.leaves)
                return .list([])
            }
            var items: [ParquetValue] = []
            repeat {
                items.append(try read(p, element))
            } while continues(p, first, level)
            return .list(items)
        case .map(let key, let value, let repeatedDefinition, let level):
            if d < repeatedDefinition {
                try skip(p, node.leaves)
                return .object([])
            }
            var fields: [ParquetField] = []
            repeat {
                let k = try read(p, key)
                let v = try read(p, value)
                let name: String
                if case .string(let s) = k { name = s } else { name = k.jsonText() }
                fields.append(ParquetField(name: name, value: v))
            } while continues(p, first, level)
            return .object(fields)
        }
    }

    /// Whether the next entry of `slot` continues the list repeating at `level`.
    private func continues(_ p: Int, _ slot: Int, _ level: Int16) -> Bool {
        let column = columns[p][slot]
        let e = cursors[p][slot].entry
        return e < column.count && column.repetitions.count > e && column.repetitions[e] == level
    }
}
