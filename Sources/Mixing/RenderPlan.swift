import Datasets

/// Where a record's output pieces sit inside its own bytes, kept from the first pass so that
/// writing a mixture copies byte ranges instead of parsing every chosen record again.
///
/// Encoding (Int32s in a chunk's arena; offsets relative to the record's first byte):
/// `[prompt turns, completion turns (-1: none), chosen turns (-1), rejected turns (-1),
///   source_id kind start end, id kind start end, global_or_local kind start end,
///   harm_category kind start end]` then five Int32s per turn: `role start end extraStart extraEnd`.
/// Scalar kinds: 0 absent, 1 string (start..<end is its JSON content), 2 number; harm kinds:
/// 0 absent, 1 string, 2 list (start..<end spans the brackets).
enum RenderPlan {
    static let header = 16

    static func append(_ l: RecordLayout, _ tape: JSONTape, to arena: inout [Int32]) {
        let origin = tape.origin
        func rel(_ i: Int) -> (Int32, Int32) {
            let r = tape.range(i)
            return (Int32(r.lowerBound - origin), Int32(r.upperBound - origin))
        }
        func scalar(_ token: Int32) -> [Int32] {
            guard token >= 0 else { return [0, 0, 0] }
            let (a, b) = rel(Int(token))
            return [tape[Int(token)].kind == .string ? 1 : 2, a, b]
        }
        arena.append(Int32(l.prompt.count))
        arena.append(l.completion.map { Int32($0.count) } ?? -1)
        arena.append(l.chosen.map { Int32($0.count) } ?? -1)
        arena.append(l.rejected.map { Int32($0.count) } ?? -1)
        arena += scalar(l.sourceID)
        arena += scalar(l.id)
        arena += scalar(l.globalOrLocal)
        if l.harmCategory >= 0, tape[Int(l.harmCategory)].kind != .null {
            let t = tape[Int(l.harmCategory)]
            if t.kind == .array {
                arena += [2, t.start, t.end]  // token offsets are already relative to the record
            } else {
                let (a, b) = rel(Int(l.harmCategory))
                arena += [1, a, b]
            }
        } else {
            arena += [0, 0, 0]
        }
        for list in [l.prompt, l.completion ?? [], l.chosen ?? [], l.rejected ?? []] {
            for turn in list {
                let (a, b) = rel(Int(turn.text.token))
                let (c, d) = turn.text.extra >= 0 ? rel(Int(turn.text.extra)) : (-1, -1)
                arena += [Int32(turn.role.rawValue), a, b, c, d]
            }
        }
    }

    /// A decoded view of one plan.
    struct View {
        let arena: UnsafeBufferPointer<Int32>
        let at: Int

        var promptCount: Int { Int(arena[at]) }
        var completionCount: Int { Int(arena[at + 1]) }
        var chosenCount: Int { Int(arena[at + 2]) }
        var rejectedCount: Int { Int(arena[at + 3]) }
        func scalar(_ k: Int) -> (kind: Int32, range: Range<Int>) {
            let b = at + 4 + 3 * k
            return (arena[b], Int(arena[b + 1])..<Int(arena[b + 2]))
        }
        var sourceID: (kind: Int32, range: Range<Int>) { scalar(0) }
        var id: (kind: Int32, range: Range<Int>) { scalar(1) }
        var globalOrLocal: (kind: Int32, range: Range<Int>) { scalar(2) }
        var harm: (kind: Int32, range: Range<Int>) { scalar(3) }

        /// Turn ranges (first turn index, count) of each list.
        var prompt: Range<Int> { 0..<promptCount }
        var completion: Range<Int>? { completionCount < 0 ? nil : promptCount..<(promptCount + completionCount) }
        var chosen: Range<Int>? {
            guard chosenCount >= 0 else { return nil }
            let s = promptCount + max(0, completionCount)
            return s..<(s + chosenCount)
        }
        var rejected: Range<Int>? {
            guard rejectedCount >= 0 else { return nil }
            let s = promptCount + max(0, completionCount) + max(0, chosenCount)
            return s..<(s + rejectedCount)
        }
        var sftResponse: Range<Int>? { completion ?? chosen }

        func turn(_ k: Int) -> (role: Int, text: Range<Int>, extra: Range<Int>?) {
            let b = at + RenderPlan.header + 5 * k
            let extra = arena[b + 3] >= 0 ? Int(arena[b + 3])..<Int(arena[b + 4]) : nil
            return (Int(arena[b]), Int(arena[b + 1])..<Int(arena[b + 2]), extra)
        }
    }
}

extension JSONWriter {
    /// `[{"role":…,"content":…},…]` for turn ranges of a plan, text copied from the record's bytes.
    mutating func turns(_ lists: [Range<Int>?], _ plan: RenderPlan.View, _ record: UnsafeBufferPointer<UInt8>) {
        raw(Array("[".utf8), comma: false)
        var comma = false
        for list in lists {
            guard let list else { continue }
            for k in list {
                let t = plan.turn(k)
                if comma { bytes.append(UInt8(ascii: ",")) }
                comma = true
                bytes.append(contentsOf: JSONWriter.turnPrefix[t.role])
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: record[t.text]))
                if let e = t.extra {
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "n"), 0x5C, UInt8(ascii: "n")])
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: record[e]))
                }
                bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "}")])
            }
        }
        endArray()
    }

    /// A plan scalar as a JSON string (a number's text becomes the string), or null.
    mutating func scalar(_ s: (kind: Int32, range: Range<Int>), _ record: UnsafeBufferPointer<UInt8>) {
        guard s.kind != 0 else { null(); return }
        raw([UInt8(ascii: "\"")] + Array(UnsafeBufferPointer(rebasing: record[s.range])) + [UInt8(ascii: "\"")], comma: true)
    }
}
