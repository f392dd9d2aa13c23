import Datasets
import Tensors

/// One mixture drawn from the pool: which records, how often, in which order.
struct Draw {
    struct Pick { var entry: Int32; var repeatIndex: Int32 }

    let spec: MixtureSpec
    /// Objectives with a positive share, in the order the shares were written, and their shares.
    let objectives: [String]
    let shares: [Double]
    let languages: [String]
    /// The start of each meta line, `{"source":…,"objective":…,"language":…`, per source and language.
    var metaPrefix: [MetaKey: [UInt8]] = [:]
    /// Per cell [objective][language]: data available (in the mixture's unit, records), target, realised.
    var available: [[Double]]
    var availableRecords: [[Int]]
    var targets: [[Int]]
    var realised: [[Double]]
    var total: Int
    var train: [Pick] = []
    var heldOut: [Int32] = []
    let seed: UInt64

    static func make(_ spec: MixtureSpec, pool: Pool) throws -> Draw {
        let config = pool.config
        let positive = spec.shares.filter { $0.share > 0 }
        let objectives = positive.map(\.objective)
        let shares = positive.map(\.share)
        let componentOfSource = config.sources.map { s in objectives.firstIndex(of: s.objective) ?? -1 }
        let needed: PoolEntry.Flags = spec.kinds.reduce(into: []) { $0.insert($1 == .sft ? .sft : .dpo) }

        // Languages: as listed, else every language the mixture's objectives have, sorted.
        let languages: [String]
        if let listed = spec.languages {
            languages = listed
        } else {
            var seen = Set<UInt64>()
            for e in pool.entries where componentOfSource[Int(e.source)] >= 0 && !e.flags.contains(.duplicate) { seen.insert(e.language) }
            languages = seen.map(PoolEntry.unpack).sorted()
        }
        var languageIndex: [UInt64: Int] = [:]
        for (i, l) in languages.enumerated() { if let p = PoolEntry.pack(l) { languageIndex[p] = i } }

        var cells = [[[Int32]]](repeating: [[Int32]](repeating: [], count: languages.count), count: objectives.count)
        var heldOut: [Int32] = []
        var ineligible = [Int](repeating: 0, count: config.sources.count)
        var firstIneligible = [Int?](repeating: nil, count: config.sources.count)
        for (i, e) in pool.entries.enumerated() {
            let c = componentOfSource[Int(e.source)]
            guard c >= 0, !e.flags.contains(.duplicate), let l = languageIndex[e.language] else { continue }
            guard e.flags.isSuperset(of: needed) else {
                ineligible[Int(e.source)] += 1
                if firstIneligible[Int(e.source)] == nil { firstIneligible[Int(e.source)] = i }
                continue
            }
            if e.flags.contains(.heldOut) { heldOut.append(Int32(i)) } else { cells[c][l].append(Int32(i)) }
        }
        for (s, n) in ineligible.enumerated() where n > 0 {
            let e = pool.entries[firstIneligible[s]!]
            let need = spec.kinds.contains(.dpo) ? "a chosen/rejected pair (dpo)" : "a response (sft)"
            throw MixError("mixture '\(spec.name)': \(n) records of source '\(config.sources[s].name)' lack \(need), "
                + "first at \(pool.files[s].location(Int(e.span))); give the source responses or drop it from the mixture's shares")
        }
        var available = cells.map { row in row.map { _ in 0.0 } }
        for c in cells.indices {
            for l in cells[c].indices {
                available[c][l] = spec.unit == .examples
                    ? Double(cells[c][l].count) : cells[c][l].reduce(0.0) { $0 + Double(pool.entries[Int($1)].characters) }
            }
        }
        var draw = Draw(
            spec: spec, objectives: objectives, shares: shares, languages: languages, available: available,
            availableRecords: cells.map { $0.map(\.count) }, targets: [], realised: available.map { $0.map { _ in 0 } },
            total: 0, heldOut: heldOut, seed: config.seed)
        for (s, source) in config.sources.enumerated() {
            for l in languages {
                guard let p = PoolEntry.pack(l) else { continue }
                var w = JSONWriter()
                w.beginObject()
                w.key("source"); w.string(source.name)
                w.key("objective"); w.string(source.objective)
                w.key("language"); w.string(l)
                draw.metaPrefix[MetaKey(source: Int32(s), language: p)] = w.bytes
            }
        }
        try draw.allocate()
        draw.sample(cells, pool)
        return draw
    }

    var unitWord: String { spec.unit == .examples ? "examples" : "characters" }

    func cap(_ c: Int, _ l: Int) -> Double { available[c][l] * (spec.maxEpochs ?? 1) }

    func feasible(_ t: [[Int]]) -> Bool {
        for c in t.indices { for l in t[c].indices where Double(t[c][l]) > cap(c, l) + 1e-9 { return false } }
        return true
    }

    mutating func allocate() throws {
        guard !objectives.isEmpty else { throw MixError("mixture '\(spec.name)': every share is 0") }
        guard !languages.isEmpty else { throw MixError("mixture '\(spec.name)': no records in any language") }
        func plan(_ total: Int) -> [[Int]]? {
            Allocation.targets(total: total, shares: shares, available: available, scope: spec.scope, weighting: spec.weighting)
        }
        switch spec.size {
        case .count(let n):
            total = n
            guard let t = plan(n) else {
                throw MixError("mixture '\(spec.name)': UniMax cannot place \(n) \(unitWord): every language reaches its epoch cap first")
            }
            targets = t
            if !feasible(t) { throw shortage(t) }
        case .max:
            var lo = 0
            var hi = 0
            for c in available.indices { for l in available[c].indices { hi += Int(cap(c, l)) } }
            while lo < hi {
                let mid = lo + (hi - lo + 1) / 2
                if let t = plan(mid), feasible(t) { lo = mid } else { hi = mid - 1 }
            }
            guard lo > 0, let t = plan(lo) else {
                let empty = objectives.indices.filter { c in available[c].allSatisfy { $0 == 0 } }.map { objectives[$0] }
                throw MixError("mixture '\(spec.name)': nothing can be drawn: "
                    + (empty.isEmpty ? "some language lacks data of an objective" : "objective \(empty.joined(separator: ", ")) has no training records")
                    + " in \(languages.joined(separator: ", "))")
            }
            total = lo
            targets = t
        }
    }

    func shortage(_ t: [[Int]]) -> MixError {
        var worst = (0, 0, 0.0)
        for c in t.indices {
            for l in t[c].indices {
                let ratio = available[c][l] > 0 ? Double(t[c][l]) / available[c][l] : (t[c][l] > 0 ? .infinity : 0)
                if ratio > worst.2 { worst = (c, l, ratio) }
            }
        }
        let (c, l, _) = worst
        let allowed = spec.maxEpochs.map { "at most \(formatNumber($0)) passes are allowed (oversample)" } ?? "oversampling is off"
        return MixError("mixture '\(spec.name)': \(objectives[c])/\(languages[l]) needs \(t[c][l]) \(unitWord) but \(formatNumber(available[c][l])) are available "
            + "(after de-duplication and the held-out split) and \(allowed); lower size, use size: max, or set oversample: <max passes>")
    }

    mutating func sample(_ cells: [[[Int32]]], _ pool: Pool) {
        var picks: [Pick] = []
        picks.reserveCapacity(total)
        for c in cells.indices {
            for l in cells[c].indices {
                let target = targets[c][l]
                let list = cells[c][l]
                guard target > 0, !list.isEmpty else { continue }
                var rng = Xoshiro256StarStar(seed: seed, purpose: "\(spec.name)/sample/\(objectives[c])/\(languages[l])")
                var order = list
                rng.shuffle(&order)
                switch spec.unit {
                case .examples:
                    let passes = target / list.count
                    for p in 0..<passes { for e in order { picks.append(Pick(entry: e, repeatIndex: Int32(p))) } }
                    for e in order.prefix(target % list.count) { picks.append(Pick(entry: e, repeatIndex: Int32(passes))) }
                    realised[c][l] = Double(target)
                case .characters:
                    var got = 0.0
                    var pass: Int32 = 0
                    outer: while got < Double(target) {
                        if pass > 0 { rng.shuffle(&order) }
                        for e in order {
                            if got >= Double(target) { break outer }
                            picks.append(Pick(entry: e, repeatIndex: pass))
                            got += Double(pool.entries[Int(e)].characters)
                        }
                        pass += 1
                    }
                    realised[c][l] = got
                }
            }
        }
        var rng = Xoshiro256StarStar(seed: seed, purpose: "\(spec.name)/order")
        rng.shuffle(&picks)
        train = picks
    }

    /// Realised share of each objective (in the mixture's unit).
    func realisedShares() -> [(String, Double)] {
        let all = realised.reduce(0.0) { $0 + $1.reduce(0, +) }
        return objectives.indices.map { c in (objectives[c], all > 0 ? realised[c].reduce(0, +) / all : 0) }
    }
}
