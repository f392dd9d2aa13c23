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
    /// The held-out side, in write order (never repeated).
    var heldOut: [Int32] = []
    /// With `held_out_mode: shares`, the held-out cells as for the train side (else empty).
    var heldOutAvailable: [[Double]] = []
    var heldOutTargets: [[Int]] = []
    var heldOutRealised: [[Double]] = []
    var heldOutTotal = 0
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
        var heldCells = cells
        var ineligible = [Int](repeating: 0, count: config.sources.count)
        var firstIneligible = [Int?](repeating: nil, count: config.sources.count)
        var outsideMixture = [[String: Int]](repeating: [:], count: config.sources.count)
        for (i, e) in pool.entries.enumerated() {
            let c = componentOfSource[Int(e.source)]
            guard c >= 0, !e.flags.contains(.duplicate) else { continue }
            guard let l = languageIndex[e.language] else {
                outsideMixture[Int(e.source)][e.languageCode, default: 0] += 1
                continue
            }
            guard e.flags.isSuperset(of: needed) else {
                ineligible[Int(e.source)] += 1
                if firstIneligible[Int(e.source)] == nil { firstIneligible[Int(e.source)] = i }
                continue
            }
            if e.flags.contains(.heldOut) { heldCells[c][l].append(Int32(i)) } else { cells[c][l].append(Int32(i)) }
        }
        for (s, n) in ineligible.enumerated() where n > 0 {
            guard let first = firstIneligible[s] else { continue }
            let e = pool.entries[first]
            let need = spec.kinds.contains(.dpo) ? "a chosen/rejected pair (dpo)" : "a response (sft)"
            throw MixError("mixture '\(spec.name)': \(n) records of source '\(config.sources[s].name)' lack \(need), "
                + "first at \(pool.files[s].location(Int(e.span))); give the source responses or drop it from the mixture's shares")
        }
        func amounts(_ cells: [[[Int32]]]) -> [[Double]] {
            cells.map { row in
                row.map { list in
                    spec.unit == .examples
                        ? Double(list.count) : list.reduce(0.0) { $0 + Double(pool.entries[Int($1)].characters) }
                }
            }
        }
        let available = amounts(cells)
        var draw = Draw(
            spec: spec, objectives: objectives, shares: shares, languages: languages, available: available,
            availableRecords: cells.map { $0.map(\.count) }, targets: [], realised: available.map { $0.map { _ in 0 } },
            total: 0, seed: config.seed)
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
        try draw.checkCells(pool: pool, outsideMixture: outsideMixture)
        try draw.allocate()
        try draw.checkTargets()
        (draw.train, draw.realised) = draw.sample(cells, targets: draw.targets, pool, purpose: "\(spec.name)")
        let held = heldCells.flatMap { $0.flatMap { $0 } }
        if spec.heldOutMode == .pool || held.isEmpty {
            draw.heldOut = held.sorted()  // pool order, as the sources list them
        } else {
            try draw.drawHeldOut(heldCells, amounts(heldCells), pool: pool)
        }
        return draw
    }

    /// One line per source of `objectives` saying where its records went (for "nothing to draw" errors).
    func whereRecordsWent(_ objectives: [String], pool: Pool, outsideMixture: [[String: Int]]) -> String {
        let config = pool.config
        func list(_ counts: [String: Int]) -> String {
            counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(6).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + (counts.count > 6 ? ", …" : "")
        }
        var parts: [String] = []
        for (s, source) in config.sources.enumerated() where objectives.contains(source.objective) {
            let st = pool.sourceStats[s]
            var why: [String] = []
            if st.otherLanguages > 0 {
                let kept = (config.languages ?? []).joined(separator: ", ")
                why.append("\(st.otherLanguages) dropped by the pool's languages: [\(kept)] (their languages: \(list(st.otherLanguageCounts)))")
            }
            let outside = outsideMixture[s].values.reduce(0, +)
            if outside > 0 {
                why.append("\(outside) dropped by the mixture's languages: [\(languages.joined(separator: ", "))] "
                    + "(their languages: \(list(outsideMixture[s])))")
            }
            let duplicates = st.duplicatesExact + st.duplicatesNormalized
            if duplicates > 0 { why.append("\(duplicates) duplicates") }
            if st.heldOut > 0 { why.append("\(st.heldOut) held out") }
            if st.skippedInvalid > 0 { why.append("\(st.skippedInvalid) invalid") }
            parts.append("source '\(source.name)' (\(st.path)): \(st.records) records" + (why.isEmpty ? "" : ", " + why.joined(separator: ", ")))
        }
        return parts.joined(separator: "; ")
    }

    /// An objective, a language, or (with `within: language`) a cell without any training record
    /// is an error naming it, never a mixture that silently lacks it.
    func checkCells(pool: Pool, outsideMixture: [[String: Int]]) throws {
        guard !objectives.isEmpty else { throw MixError("mixture '\(spec.name)': every share is 0") }
        guard !languages.isEmpty else {
            throw MixError("mixture '\(spec.name)': no records in any language: "
                + whereRecordsWent(objectives, pool: pool, outsideMixture: outsideMixture))
        }
        let names = languages.map { "\($0) (\(Languages.name($0)))" }
        for c in objectives.indices where available[c].allSatisfy({ $0 == 0 }) {
            throw MixError("mixture '\(spec.name)': objective '\(objectives[c])' (share \(formatNumber(shares[c]))) has no training "
                + "records in \(languages.joined(separator: ", ")): "
                + whereRecordsWent([objectives[c]], pool: pool, outsideMixture: outsideMixture))
        }
        for l in languages.indices where objectives.indices.allSatisfy({ available[$0][l] == 0 }) {
            throw MixError("mixture '\(spec.name)': language \(names[l]) has no training records of \(objectives.joined(separator: ", ")); "
                + "drop it from the mixture's languages:")
        }
        if spec.scope == .language {
            for c in objectives.indices {
                for l in languages.indices where available[c][l] == 0 {
                    let sources = pool.config.sources.filter { $0.objective == objectives[c] }.map { "'\($0.name)'" }
                    throw MixError("mixture '\(spec.name)': cell \(objectives[c])/\(languages[l]) is empty: no training record of objective "
                        + "'\(objectives[c])' (source \(sources.joined(separator: ", "))) is in \(names[l]), and within: language needs every "
                        + "objective in every language; give the mixture languages: without \(languages[l]), or use within: overall")
                }
            }
        }
    }

    /// After allocation: no objective and no language may end with zero examples.
    func checkTargets() throws {
        let sizeText = "size \(total) \(unitWord)"
        for c in objectives.indices where targets[c].reduce(0, +) == 0 {
            throw MixError("mixture '\(spec.name)': objective '\(objectives[c])' (share \(formatNumber(shares[c]))) gets 0 \(unitWord) "
                + "at \(sizeText); raise size")
        }
        for l in languages.indices where objectives.indices.allSatisfy({ targets[$0][l] == 0 }) {
            throw MixError("mixture '\(spec.name)': language \(languages[l]) gets 0 \(unitWord) at \(sizeText) with this weighting; "
                + "raise size, change the weighting, or drop \(languages[l]) from the mixture's languages:")
        }
        if spec.scope == .language {
            for c in objectives.indices {
                for l in languages.indices where targets[c][l] == 0 {
                    throw MixError("mixture '\(spec.name)': cell \(objectives[c])/\(languages[l]) gets 0 \(unitWord) at \(sizeText) "
                        + "(within: language); raise size")
                }
            }
        }
    }

    /// `held_out_mode: shares`: the held-out side drawn as the train side is (same shares, scope
    /// and weighting, no repeats), sized `held_out / (1 − held_out)` of the train side, or as large
    /// as the held-out records allow when they are fewer.
    mutating func drawHeldOut(_ cells: [[[Int32]]], _ amounts: [[Double]], pool: Pool) throws {
        let fraction = pool.config.heldOut?.fraction ?? 0
        let wanted = Int((Double(total) * fraction / (1 - fraction)).rounded())
        heldOutAvailable = amounts
        guard wanted > 0 else { return }
        let largest = Self.largest(available: amounts, maxEpochs: nil) { plan($0, amounts) }
        guard let (limit, _) = largest, limit > 0 else {
            var empty: [String] = []
            for c in objectives.indices {
                for l in languages.indices where amounts[c][l] == 0 { empty.append("\(objectives[c])/\(languages[l])") }
            }
            throw MixError("mixture '\(spec.name)': the held-out side cannot follow the shares (held_out_mode: shares): "
                + "no held-out records in \(empty.prefix(4).joined(separator: ", "))\(empty.count > 4 ? ", …" : ""); "
                + "raise held_out or set held_out_mode: pool")
        }
        heldOutTotal = min(wanted, limit)
        guard let t = plan(heldOutTotal, amounts) else { return }
        heldOutTargets = t
        let (picks, realised) = sample(cells, targets: t, pool, purpose: "\(spec.name)/held_out")
        heldOutRealised = realised
        heldOut = picks.map(\.entry)
    }

    var unitWord: String { spec.unit == .examples ? "examples" : "characters" }

    func cap(_ c: Int, _ l: Int) -> Double { available[c][l] * (spec.maxEpochs ?? 1) }

    func feasible(_ t: [[Int]]) -> Bool {
        for c in t.indices { for l in t[c].indices where Double(t[c][l]) > cap(c, l) + 1e-9 { return false } }
        return true
    }

    func plan(_ total: Int, _ available: [[Double]]) -> [[Int]]? {
        Allocation.targets(total: total, shares: shares, available: available, scope: spec.scope, weighting: spec.weighting)
    }

    /// The largest total whose plan fits the caps (`maxEpochs` passes over each cell), by binary search.
    static func largest(available: [[Double]], maxEpochs: Double?, _ plan: (Int) -> [[Int]]?) -> (Int, [[Int]])? {
        func fits(_ t: [[Int]]) -> Bool {
            for c in t.indices { for l in t[c].indices where Double(t[c][l]) > available[c][l] * (maxEpochs ?? 1) + 1e-9 { return false } }
            return true
        }
        var lo = 0
        var hi = 0
        for c in available.indices { for l in available[c].indices { hi += Int(available[c][l] * (maxEpochs ?? 1)) } }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            if let t = plan(mid), fits(t) { lo = mid } else { hi = mid - 1 }
        }
        guard lo > 0, let t = plan(lo) else { return nil }
        return (lo, t)
    }

    mutating func allocate() throws {
        let available = self.available
        switch spec.size {
        case .count(let n):
            total = n
            guard let t = plan(n, available) else {
                throw MixError("mixture '\(spec.name)': UniMax cannot place \(n) \(unitWord): every language reaches its epoch cap first")
            }
            targets = t
            if !feasible(t) { throw shortage(t) }
        case .max:
            guard let (lo, t) = Self.largest(available: available, maxEpochs: spec.maxEpochs, { plan($0, available) }) else {
                throw MixError("mixture '\(spec.name)': nothing can be drawn from the cells of \(objectives.joined(separator: ", ")) "
                    + "in \(languages.joined(separator: ", ")) with these shares")
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

    /// Draws `targets` from `cells` (one stream per cell, `purpose/sample/objective/language`) and
    /// shuffles the picks (`purpose/order`); returns them with the realised amounts per cell.
    func sample(_ cells: [[[Int32]]], targets: [[Int]], _ pool: Pool, purpose: String) -> ([Pick], [[Double]]) {
        var picks: [Pick] = []
        var realised = cells.map { $0.map { _ in 0.0 } }
        picks.reserveCapacity(targets.reduce(0) { $0 + $1.reduce(0, +) })
        for c in cells.indices {
            for l in cells[c].indices {
                let target = targets[c][l]
                let list = cells[c][l]
                guard target > 0, !list.isEmpty else { continue }
                var rng = Xoshiro256StarStar(seed: seed, purpose: "\(purpose)/sample/\(objectives[c])/\(languages[l])")
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
        var rng = Xoshiro256StarStar(seed: seed, purpose: "\(purpose)/order")
        rng.shuffle(&picks)
        return (picks, realised)
    }

    /// Realised share of each objective (in the mixture's unit).
    func realisedShares() -> [(String, Double)] {
        let all = realised.reduce(0.0) { $0 + $1.reduce(0, +) }
        return objectives.indices.map { c in (objectives[c], all > 0 ? realised[c].reduce(0, +) / all : 0) }
    }
}
