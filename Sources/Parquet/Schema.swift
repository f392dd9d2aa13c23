/// A field of the file's schema, with its children for groups.
public struct ParquetSchemaNode: Sendable {
    public var name: String
    public var repetition: Repetition
    /// Nil for groups.
    public var physicalType: PhysicalType?
    public var logicalType: LogicalType?
    /// Bytes per value of FIXED_LEN_BYTE_ARRAY columns.
    public var typeLength: Int
    public var children: [ParquetSchemaNode]

    public var isGroup: Bool { physicalType == nil }
}

/// What the reader needs to know about one leaf column.
struct LeafColumn {
    var path: [String]
    var type: PhysicalType
    var logicalType: LogicalType?
    var typeLength: Int
    var maxDefinition: Int16
    var maxRepetition: Int16
    /// The top-level field it belongs to.
    var topField: Int

    var dottedPath: String { path.joined(separator: ".") }
}

extension ParquetSchemaNode {
    static let maxDepth = 64

    /// Rebuilds the tree from the footer's depth-first list.
    static func tree(_ elements: [SchemaElement]) throws(DecodeError) -> ParquetSchemaNode {
        guard let first = elements.first else { throw DecodeError("the schema is empty") }
        guard first.type == nil || first.numChildren > 0 else { throw DecodeError("the schema root is not a group") }
        var index = 0
        let root = try node(elements, &index, depth: 0)
        guard index == elements.count else {
            throw DecodeError("the schema lists \(elements.count) elements but its tree uses \(index)")
        }
        return root
    }

    private static func node(
        _ elements: [SchemaElement], _ index: inout Int, depth: Int
    ) throws(DecodeError) -> ParquetSchemaNode {
        guard depth <= maxDepth else { throw DecodeError("the schema is nested more than \(maxDepth) deep") }
        guard index < elements.count else { throw DecodeError("the schema's child counts run past its elements") }
        let e = elements[index]
        index += 1
        var children: [ParquetSchemaNode] = []
        if e.numChildren > 0 {
            guard e.numChildren <= elements.count - index else {
                throw DecodeError("schema element \(e.name) claims \(e.numChildren) children, more than there are")
            }
            for _ in 0..<e.numChildren { children.append(try node(elements, &index, depth: depth + 1)) }
        } else if e.type == nil {
            throw DecodeError("schema element \(e.name) has neither a type nor children")
        }
        if e.type == .fixedLenByteArray && (e.typeLength <= 0 || e.typeLength > 1 << 20) {
            throw DecodeError("schema element \(e.name) has a bad fixed length \(e.typeLength)")
        }
        return ParquetSchemaNode(
            name: e.name, repetition: e.repetition, physicalType: e.numChildren > 0 ? nil : e.type,
            logicalType: e.logicalType, typeLength: Int(e.typeLength), children: children)
    }

    /// The leaf columns in file order, with their levels.
    func leaves() -> [LeafColumn] {
        var out: [LeafColumn] = []
        for (i, child) in children.enumerated() {
            child.collect(path: [], definition: 0, repetition: 0, top: i, into: &out)
        }
        return out
    }

    private func collect(path: [String], definition: Int16, repetition: Int16, top: Int, into out: inout [LeafColumn]) {
        let def = definition + (self.repetition == .required ? 0 : 1)
        let rep = repetition + (self.repetition == .repeated ? 1 : 0)
        let here = path + [name]
        if let type = physicalType {
            out.append(LeafColumn(
                path: here, type: type, logicalType: logicalType, typeLength: typeLength,
                maxDefinition: def, maxRepetition: rep, topField: top))
        } else {
            for child in children { child.collect(path: here, definition: def, repetition: rep, top: top, into: &out) }
        }
    }
}

/// How to rebuild one top-level field's values from its leaves' levels.
struct AssemblyPlan {
    enum Kind {
        /// A leaf: index into the plan's leaf slots.
        case leaf(Int)
        case group(names: [String], children: [Int])
        /// A list whose repeated node is present from `repeatedDefinition` and repeats at `repetitionLevel`.
        case list(element: Int, repeatedDefinition: Int16, repetitionLevel: Int16)
        case map(key: Int, value: Int, repeatedDefinition: Int16, repetitionLevel: Int16)
    }

    struct Node {
        var kind: Kind
        /// Whether the node can be null (optional).
        var nullable: Bool
        /// The definition level at which the node is present.
        var definition: Int16
        /// Its leaves, as a range of leaf slots.
        var leaves: Range<Int>
    }

    var nodes: [Node] = []
    /// Slot → global leaf column index.
    var leafColumns: [Int] = []
    var root = 0

    /// Plans a top-level field whose leaves start at global column `firstLeaf`.
    init(field: ParquetSchemaNode, firstLeaf: Int) {
        var next = firstLeaf
        root = add(field, parentDefinition: 0, parentRepetition: 0, nextLeaf: &next)
    }

    private mutating func add(
        _ n: ParquetSchemaNode, parentDefinition: Int16, parentRepetition: Int16, nextLeaf: inout Int
    ) -> Int {
        let def = parentDefinition + (n.repetition == .required ? 0 : 1)
        let rep = parentRepetition + (n.repetition == .repeated ? 1 : 0)
        if n.repetition == .repeated {
            // A bare repeated field: a list that is never null, empty when the field is absent.
            let start = leafColumns.count
            let element = build(n, definition: def, repetition: rep, nullable: false, nextLeaf: &nextLeaf)
            return append(Node(
                kind: .list(element: element, repeatedDefinition: def, repetitionLevel: rep),
                nullable: false, definition: parentDefinition, leaves: start..<leafColumns.count))
        }
        return build(n, definition: def, repetition: rep, nullable: n.repetition == .optional, nextLeaf: &nextLeaf)
    }

    private mutating func build(
        _ n: ParquetSchemaNode, definition def: Int16, repetition rep: Int16, nullable: Bool, nextLeaf: inout Int
    ) -> Int {
        let start = leafColumns.count
        let kind: Kind
        if n.physicalType != nil {
            leafColumns.append(nextLeaf)
            nextLeaf += 1
            kind = .leaf(start)
        } else if n.logicalType == .list, n.children.count == 1, n.children[0].repetition == .repeated {
            let repeated = n.children[0]
            let rDef = def + 1, rRep = rep + 1
            let element: Int
            if repeated.children.count == 1, repeated.name != "array", repeated.name != n.name + "_tuple" {
                element = add(repeated.children[0], parentDefinition: rDef, parentRepetition: rRep, nextLeaf: &nextLeaf)
            } else {
                element = build(repeated, definition: rDef, repetition: rRep, nullable: false, nextLeaf: &nextLeaf)
            }
            kind = .list(element: element, repeatedDefinition: rDef, repetitionLevel: rRep)
        } else if n.logicalType == .map || n.logicalType == .mapKeyValue, n.children.count == 1,
                  n.children[0].repetition == .repeated, n.children[0].children.count == 2 {
            let pair = n.children[0]
            let rDef = def + 1, rRep = rep + 1
            let key = add(pair.children[0], parentDefinition: rDef, parentRepetition: rRep, nextLeaf: &nextLeaf)
            let value = add(pair.children[1], parentDefinition: rDef, parentRepetition: rRep, nextLeaf: &nextLeaf)
            kind = .map(key: key, value: value, repeatedDefinition: rDef, repetitionLevel: rRep)
        } else {
            var children: [Int] = []
            for child in n.children {
                children.append(add(child, parentDefinition: def, parentRepetition: rep, nextLeaf: &nextLeaf))
            }
            kind = .group(names: n.children.map(\.name), children: children)
        }
        return append(Node(kind: kind, nullable: nullable, definition: def, leaves: start..<leafColumns.count))
    }

    private mutating func append(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }
}
