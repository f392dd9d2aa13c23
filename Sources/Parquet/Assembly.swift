/// Rebuilds records from decoded leaf columns (record shredding reversed).
///
/// The plans of every field are flattened into plain tables numbered across the whole row (leaf slots
/// and nodes), so that the hot path — `writeRow`, a row written straight to JSON — touches no
/// reference-counted value besides the column it copies text from.
struct Assembler {
    /// A plan's node with plain values only; node and slot numbers are global.
    struct Node {
        enum Kind: UInt8 { case leaf, group, list, map }
        var kind: Kind
        /// Whether the node can be null (optional).
        var nullable: Bool
        /// The definition level at which the node is present.
        var definition: Int16
        /// Its leaves, as a range of slots.
        var leaves: Range<Int>
        /// A leaf's slot; a list's element node; a map's key node.
        var first = 0
        /// A map's value node.
        var second = 0
        /// A group's children, as a range of `children`.
        var children: Range<Int> = 0..<0
        /// Lists and maps: the definition level from which the repeated node is present, and the
        /// repetition level it repeats at.
        var repeatedDefinition: Int16 = 0
        var level: Int16 = 0
    }

    let nodes: [Node]
    /// Every group's children (nodes), their names, and each name quoted and followed by ':' (ranges of `keyBytes`).
    let children: [Int]
    let childNames: [String]
    let keyRanges: [Range<Int>]
    let keyBytes: [UInt8]
    /// Each planned field's root node.
    let roots: [Int]
    /// Per slot: the decoded column, its description, and whether it holds text.
    let columns: [ColumnData]
    let leaves: [LeafColumn]
    let isText: [Bool]
    /// Per slot: the next entry (level) and the next value.
    var entries: [Int]
    var values: [Int]

    init(plans: [AssemblyPlan], columns: [[ColumnData]], leaves: [[LeafColumn]]) {
        var nodes: [Node] = [], children: [Int] = [], names: [String] = []
        var keyRanges: [Range<Int>] = [], keyBytes: [UInt8] = [], roots: [Int] = []
        var slotBase = 0
        for plan in plans {
            let nodeBase = nodes.count
            for node in plan.nodes {
                var flat = Node(
                    kind: .leaf, nullable: node.nullable, definition: node.definition,
                    leaves: (slotBase + node.leaves.lowerBound)..<(slotBase + node.leaves.upperBound))
                switch node.kind {
                case .leaf(let slot):
                    flat.first = slotBase + slot
                case .group(let groupNames, let groupChildren):
                    flat.kind = .group
                    let start = children.count
                    for (name, child) in zip(groupNames, groupChildren) {
                        children.append(nodeBase + child)
                        names.append(name)
                        let key = keyBytes.count
                        ParquetValue.appendQuoted(name, to: &keyBytes)
                        keyBytes.append(UInt8(ascii: ":"))
                        keyRanges.append(key..<keyBytes.count)
                    }
                    flat.children = start..<children.count
                case .list(let element, let repeatedDefinition, let level):
                    flat.kind = .list
                    flat.first = nodeBase + element
                    flat.repeatedDefinition = repeatedDefinition
                    flat.level = level
                case .map(let key, let value, let repeatedDefinition, let level):
                    flat.kind = .map
                    flat.first = nodeBase + key
                    flat.second = nodeBase + value
                    flat.repeatedDefinition = repeatedDefinition
                    flat.level = level
                }
                nodes.append(flat)
            }
            roots.append(nodeBase + plan.root)
            slotBase += plan.leafColumns.count
        }
        self.nodes = nodes
        self.children = children
        childNames = names
        self.keyRanges = keyRanges
        self.keyBytes = keyBytes
        self.roots = roots
        self.columns = columns.flatMap { $0 }
        self.leaves = leaves.flatMap { $0 }
        isText = self.leaves.map { $0.logicalType == .string || $0.logicalType == .json || $0.logicalType == .enumeration }
        entries = Array(repeating: 0, count: self.columns.count)
        values = Array(repeating: 0, count: self.columns.count)
    }

    /// Checks that field `p`'s columns are at the start of a row.
    private func checkRowStart(_ p: Int) throws(DecodeError) {
        let first = nodes[roots[p]].leaves.lowerBound
        guard first < columns.count else { throw DecodeError("a field without columns") }
        guard entries[first] < columns[first].count else {
            throw DecodeError("column \(leaves[first].dottedPath) has fewer rows than the row group")
        }
        if !columns[first].repetitions.isEmpty && columns[first].repetitions[entries[first]] != 0 {
            throw DecodeError("column \(leaves[first].dottedPath) does not start a row where one is due")
        }
    }

    /// The next row's value of every planned field.
    mutating func nextRow(names: [String]) throws(DecodeError) -> ParquetRecord {
        var fields: [ParquetField] = []
        fields.reserveCapacity(roots.count)
        for p in roots.indices {
            try checkRowStart(p)
            fields.append(ParquetField(name: names[p], value: try read(roots[p])))
        }
        return ParquetRecord(fields: fields)
    }

    /// Appends the next row as one compact JSON object — the bytes `nextRow(names:).appendJSON(to:)`
    /// would give — without building its values: text leaves are escaped straight from the column's
    /// bytes. `quotedNames` holds each planned field's name already quoted.
    mutating func writeRow(quotedNames: [[UInt8]], into out: inout [UInt8]) throws(DecodeError) {
        out.append(UInt8(ascii: "{"))
        for p in roots.indices {
            try checkRowStart(p)
            if p > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: quotedNames[p])
            out.append(UInt8(ascii: ":"))
            try write(roots[p], into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `read(n).appendJSON(to: &out)`, without the value.
    private mutating func write(_ n: Int, into out: inout [UInt8]) throws(DecodeError) {
        let node = nodes[n]
        let d = try definition(node.leaves.lowerBound)
        if node.nullable && d < node.definition {
            try skip(node.leaves)
            out.append(contentsOf: "null".utf8)
            return
        }
        switch node.kind {
        case .leaf:
            let f = node.first
            guard d == leaves[f].maxDefinition else {
                throw DecodeError("column \(leaves[f].dottedPath) has definition level \(d) where a value is required")
            }
            if isText[f], case .bytes(let strings) = columns[f].values, values[f] < strings.count {
                // UTF-8 was checked for the whole chunk (`ColumnReader.checkUTF8`).
                let r = strings.range(values[f])
                entries[f] += 1
                values[f] += 1
                strings.data.withUnsafeBufferPointer {
                    ParquetValue.appendQuoted(UnsafeBufferPointer(rebasing: $0[r]), to: &out)
                }
                return
            }
            try read(n).appendJSON(to: &out)
        case .group:
            out.append(UInt8(ascii: "{"))
            for k in node.children {
                if k > node.children.lowerBound { out.append(UInt8(ascii: ",")) }
                let key = keyRanges[k]
                keyBytes.withUnsafeBufferPointer { out.append(contentsOf: UnsafeBufferPointer(rebasing: $0[key])) }
                try write(children[k], into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .list:
            if d < node.repeatedDefinition {
                try skip(node.leaves)
                out.append(contentsOf: "[]".utf8)
                return
            }
            out.append(UInt8(ascii: "["))
            var first = true
            repeat {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                try write(node.first, into: &out)
            } while continues(node.leaves.lowerBound, node.level)
            out.append(UInt8(ascii: "]"))
        case .map:
            try read(n).appendJSON(to: &out)
        }
    }

    /// Checks that every column was used up exactly.
    func finish() throws(DecodeError) {
        for f in columns.indices where entries[f] != columns[f].count {
            throw DecodeError("column \(leaves[f].dottedPath) has more values than the row group's rows")
        }
    }

    private func definition(_ f: Int) throws(DecodeError) -> Int16 {
        guard f < columns.count else { throw DecodeError("a field without columns") }
        let e = entries[f]
        guard e < columns[f].count else { throw DecodeError("column \(leaves[f].dottedPath) ends inside a row") }
        return columns[f].definitions.isEmpty ? 0 : columns[f].definitions[e]
    }

    /// Moves every leaf of a null or empty node past its one entry.
    private mutating func skip(_ slots: Range<Int>) throws(DecodeError) {
        for f in slots {
            let d = try definition(f)
            if d == leaves[f].maxDefinition { values[f] += 1 }
            entries[f] += 1
        }
    }

    private mutating func read(_ n: Int) throws(DecodeError) -> ParquetValue {
        let node = nodes[n]
        let d = try definition(node.leaves.lowerBound)
        if node.nullable && d < node.definition {
            try skip(node.leaves)
            return .null
        }
        switch node.kind {
        case .leaf:
            let f = node.first
            guard d == leaves[f].maxDefinition else {
                throw DecodeError("column \(leaves[f].dottedPath) has definition level \(d) where a value is required")
            }
            let v = values[f]
            guard v < columns[f].values.count else {
                throw DecodeError("column \(leaves[f].dottedPath) has fewer values than its levels say")
            }
            entries[f] += 1
            values[f] += 1
            return try Conversion.value(columns[f].values, v, leaves[f])
        case .group:
            var fields: [ParquetField] = []
            fields.reserveCapacity(node.children.count)
            for k in node.children {
                fields.append(ParquetField(name: childNames[k], value: try read(children[k])))
            }
            return .object(fields)
        case .list:
            if d < node.repeatedDefinition {
                try skip(node.leaves)
                return .list([])
            }
            var items: [ParquetValue] = []
            repeat {
                items.append(try read(node.first))
            } while continues(node.leaves.lowerBound, node.level)
            return .list(items)
        case .map:
            if d < node.repeatedDefinition {
                try skip(node.leaves)
                return .object([])
            }
            var fields: [ParquetField] = []
            repeat {
                let k = try read(node.first)
                let v = try read(node.second)
                let name: String
                if case .string(let s) = k { name = s } else { name = k.jsonText() }
                fields.append(ParquetField(name: name, value: v))
            } while continues(node.leaves.lowerBound, node.level)
            return .object(fields)
        }
    }

    /// Whether the next entry of slot `f` continues the list repeating at `level`.
    private func continues(_ f: Int, _ level: Int16) -> Bool {
        let e = entries[f]
        return e < columns[f].count && columns[f].repetitions.count > e && columns[f].repetitions[e] == level
    }
}
