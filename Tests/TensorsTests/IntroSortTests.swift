import Foundation
import Testing

@testable import Tensors

@Suite("IntroSort (torch's unstable CPU argsort order)")
struct IntroSortTests {
    struct Row: Decodable { let keys: [Float]; let order: [Int32] }
    struct Case: Decodable { let dtype: String; let descending: Bool?; let rows: [Row] }
    struct Golden: Decodable { let torch: String; let cases: [Case] }

    static let golden = loadFixture("sort/argsort.json", as: Golden.self)

    @Test("Rows full of ties come out in exactly torch's order, ascending and descending (fixtures/sort, made by torch.argsort)")
    func matchesTorch() throws {
        let g = try #require(Self.golden)
        #expect(g.cases.count >= 40)
        #expect(g.cases.filter { $0.descending == true }.count >= 20)
        var rows = 0, tiedRows = 0
        for c in g.cases {
            for row in c.rows {
                let order = row.keys.withUnsafeBufferPointer { IntroSort.argsort($0, descending: c.descending ?? false) }
                #expect(order == row.order, "\(c.dtype) row of \(row.keys.count), descending: \(c.descending ?? false)")
                rows += 1
                if Set(row.keys).count < row.keys.count { tiedRows += 1 }
            }
        }
        // The fixture must exercise ties, or it would not test the unstable order at all.
        #expect(tiedRows > rows / 2)
    }

    @Test("The order sorts, and differs from the stable order where torch's does")
    func sortsAndIsUnstable() throws {
        var keys = (0..<1000).map { Float(($0 &* 7919) % 13) }
        keys.append(.nan)
        let order = keys.withUnsafeBufferPointer { IntroSort.argsort($0) }
        #expect(Set(order).count == keys.count)
        let sorted = order.map { keys[Int($0)] }
        #expect(sorted.last!.isNaN)
        #expect(zip(sorted.dropLast(), sorted.dropLast().dropFirst()).allSatisfy { $0 <= $1 })
        let stable = keys.indices.sorted { (keys[$0] < keys[$1]) || (keys[$0] == keys[$1] && $0 < $1) || (!keys[$0].isNaN && keys[$1].isNaN) }
        #expect(order.map(Int.init) != stable)
    }
}

@Suite("IntroSort.topk (torch's CPU topk: std::partial_sort or std::nth_element)")
struct TopKTests {
    struct Selection: Decodable { let k: Int; let largest: Bool; let indices: [Int32] }
    struct Row: Decodable { let dtype: String; let keys: [Float]; let selections: [Selection] }
    struct Golden: Decodable { let torch: String; let rows: [Row] }

    static let golden = loadFixture("sort/topk.json", as: Golden.self)

    @Test("Keeps exactly the tied elements torch.topk keeps, on both sides of its partial_sort/nth_element switch (fixtures/sort/topk.json)")
    func matchesTorch() throws {
        let g = try #require(Self.golden)
        var partial = 0, selected = 0, boundaryTies = 0
        for row in g.rows {
            for s in row.selections {
                let ours = row.keys.withUnsafeBufferPointer { IntroSort.topk($0, s.k, largest: s.largest) }
                #expect(Set(ours) == Set(s.indices), "\(row.dtype) n \(row.keys.count) k \(s.k) largest \(s.largest)")
                #expect(ours.count == s.k)
                if s.k * 64 <= row.keys.count { partial += 1 } else { selected += 1 }
                // A boundary tie: the k-th key also occurs outside the selection.
                let kept = Set(s.indices.map(Int.init))
                let boundary = s.indices.map { row.keys[Int($0)] }.reduce(s.largest ? Float.infinity : -Float.infinity) { s.largest ? min($0, $1) : max($0, $1) }
                if row.keys.indices.contains(where: { !kept.contains($0) && row.keys[$0] == boundary }) { boundaryTies += 1 }
            }
        }
        // Both algorithms, and selections whose boundary value is tied (else any top-k would pass).
        #expect(partial >= 10 && selected >= 40)
        #expect(boundaryTies > (partial + selected) / 2)
    }
}
