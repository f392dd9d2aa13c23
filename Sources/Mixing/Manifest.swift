import Checkpoints
import Datasets

/// `manifest.json` of a mixture: the inputs (with SHA-256), the definition, the seed, what was
/// realised (counts per source × language × objective, shares overall and per language, epochs
/// per source), what was dropped (duplicates, invalid lines, other languages) and the tool.
enum Manifest {
    static func num(_ x: Double) -> JSONValue { .number(x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)) }

    static func make(_ d: Draw, pool: Pool, files: [String]) -> JSONValue {
        let config = pool.config
        let spec = d.spec
        var definition: [(String, JSONValue)] = [
            ("shares", .object(zip(d.objectives, d.shares).map { ($0, num($1)) })),
            ("written_as", .string(spec.sharesText)),
            ("unit", .string(spec.unit.rawValue)),
            ("within", .string(spec.scope.rawValue)),
            ("languages", .array(d.languages.map { .string($0) })),
            ("weighting", .string(weightingText(spec.weighting))),
        ]
        switch spec.size {
        case .count(let n): definition.append(("size", .int(n)))
        case .max: definition.append(("size", .string("max")))
        }
        definition.append(("resolved_size", .int(d.total)))
        switch spec.maxEpochs {
        case nil: definition.append(("oversample", .bool(false)))
        case .some(let e) where e.isInfinite: definition.append(("oversample", .bool(true)))
        case .some(let e): definition.append(("oversample", num(e)))
        }
        definition += [
            ("kinds", .array(spec.kinds.map { .string($0.rawValue) })),
            ("dedup", .string(config.dedup.rawValue)),
            ("held_out_fraction", config.heldOut.map { num($0.fraction) } ?? .null),
            ("held_out_mode", config.heldOut == nil ? .null : .string(spec.heldOutMode.rawValue)),
        ]

        let inputs: [JSONValue] = config.sources.enumerated().map { s, source in
            let st = pool.sourceStats[s]
            return .object([
                ("source", .string(source.name)), ("path", .string(st.path)), ("sha256", .string(st.sha256)),
                ("bytes", .int(st.bytes)), ("format", .string(source.reader.format.rawValue)),
                ("objective", .string(source.objective)), ("records", .int(st.records)),
                ("skipped_invalid", .int(st.skippedInvalid)), ("skipped_examples", .array(st.skippedExamples.map { .string($0) })),
                ("duplicates_exact", .int(st.duplicatesExact)), ("duplicates_normalized", .int(st.duplicatesNormalized)),
                ("other_languages", .int(st.otherLanguages)), ("held_out", .int(st.heldOut)),
            ])
        }

        // Cells: objective × language — target, realised, availability, passes over the data.
        var cells: [JSONValue] = []
        for c in d.objectives.indices {
            for l in d.languages.indices {
                let avail = d.available[c][l]
                cells.append(.object([
                    ("objective", .string(d.objectives[c])), ("language", .string(d.languages[l])),
                    ("target", .int(d.targets[c][l])), ("realised", num(d.realised[c][l])),
                    ("available", num(avail)), ("available_records", .int(d.availableRecords[c][l])),
                    ("epochs", num(avail > 0 ? (d.realised[c][l] / avail * 1e6).rounded() / 1e6 : 0)),
                ]))
            }
        }
        let train = counts(d.train.map(\.entry), pool)
        let heldOut = counts(d.heldOut, pool)
        // Per source: records taken vs available on the training side (epochs > 1 = oversampled).
        var availableBySource = [Int](repeating: 0, count: config.sources.count)
        for (i, e) in pool.entries.enumerated() where !e.flags.contains(.duplicate) && !e.flags.contains(.heldOut) {
            _ = i
            if d.objectives.contains(config.sources[Int(e.source)].objective), d.languages.contains(e.languageCode) {
                availableBySource[Int(e.source)] += 1
            }
        }
        var takenBySource = [Int](repeating: 0, count: config.sources.count)
        for p in d.train { takenBySource[Int(pool.entries[Int(p.entry)].source)] += 1 }
        let epochs: [JSONValue] = config.sources.indices.map { s in
            let a = availableBySource[s], t = takenBySource[s]
            return .object([
                ("source", .string(config.sources[s].name)), ("taken", .int(t)), ("available", .int(a)),
                ("epochs", num(a > 0 ? (Double(t) / Double(a) * 1e6).rounded() / 1e6 : 0)),
                ("sampling", .string(t > a ? "oversampled" : t < a ? "undersampled" : t == 0 ? "unused" : "all")),
            ])
        }
        var byLanguage: [(String, JSONValue)] = []
        for l in d.languages.indices {
            let sum = d.objectives.indices.reduce(0.0) { $0 + d.realised[$1][l] }
            byLanguage.append((d.languages[l], .object(d.objectives.indices.map { c in
                (d.objectives[c], num(sum > 0 ? d.realised[c][l] / sum : 0))
            })))
        }
        let realisedTotal = d.realised.reduce(0.0) { $0 + $1.reduce(0, +) }
        return .object([
            ("tool", .string(Mixer.toolVersion)),
            ("mixture", .string(spec.name)),
            ("seed", .number(String(config.seed))),
            ("definition", .object(definition)),
            ("inputs", .array(inputs)),
            ("pool", .object([
                ("groups", .int(pool.groups)), ("held_out_groups", .int(pool.heldOutGroups)),
                ("dedup", .string(config.dedup.rawValue)),
            ])),
            ("train", .object([
                ("records", .int(d.train.count)),
                (spec.unit.rawValue, num(realisedTotal)),
                ("shares", .object(d.realisedShares().map { ($0.0, num($0.1)) })),
                ("shares_by_language", .object(byLanguage)),
                ("cells", .array(cells)),
                ("counts", .array(train)),
                ("epochs_by_source", .array(epochs)),
            ])),
            ("held_out", .object(heldOutSection(d, pool, counts: heldOut))),
            ("files", .array(files.map { .string($0) })),
            ("mixture_file", .string(config.sourceText)),
        ])
    }

    /// What the held-out side holds, said plainly, with its cells when it follows the shares.
    static func heldOutSection(_ d: Draw, _ pool: Pool, counts: [JSONValue]) -> [(String, JSONValue)] {
        guard let fraction = pool.config.heldOut?.fraction else {
            return [("mode", .null), ("note", .string("no held-out split (held_out: is not set)")), ("records", .int(0)), ("counts", .array([]))]
        }
        var out: [(String, JSONValue)] = [("mode", .string(d.spec.heldOutMode.rawValue))]
        let groups = "whole groups (translations of one source prompt) make up \(formatNumber(fraction * 100)) % of the pool's groups"
        switch d.spec.heldOutMode {
        case .pool:
            out.append(("note", .string("held_out holds every held-out record of the pool in this mixture's objectives and languages "
                + "(\(groups)); it does not follow the mixture's shares")))
        case .shares:
            out.append(("note", .string("held_out is drawn from the held-out records (\(groups)) with the mixture's shares, scope and "
                + "weighting, without repeats, sized held_out / (1 - held_out) of the train side or as large as the held-out records allow")))
            out.append(("target_size", .int(d.heldOutTotal)))
            let all = d.heldOutRealised.reduce(0.0) { $0 + $1.reduce(0, +) }
            out.append(("shares", .object(d.objectives.indices.map { c in
                (d.objectives[c], num(all > 0 ? d.heldOutRealised[c].reduce(0, +) / all : 0))
            })))
            var cells: [JSONValue] = []
            for c in d.objectives.indices where c < d.heldOutTargets.count {
                for l in d.languages.indices {
                    cells.append(.object([
                        ("objective", .string(d.objectives[c])), ("language", .string(d.languages[l])),
                        ("target", .int(d.heldOutTargets[c][l])), ("realised", num(d.heldOutRealised[c][l])),
                        ("available", num(d.heldOutAvailable[c][l])),
                    ]))
                }
            }
            out.append(("cells", .array(cells)))
        }
        out += [("records", .int(d.heldOut.count)), ("counts", .array(counts))]
        return out
    }

    static func weightingText(_ w: MixtureSpec.Weighting) -> String {
        switch w {
        case .proportional: "proportional"
        case .uniform: "uniform"
        case .temperature(let a): "temperature alpha=\(a)"
        case .unimax(let e): "unimax max_epochs=\(e)"
        }
    }

    /// Records and characters per source × language × objective, sorted.
    static func counts(_ entries: [Int32], _ pool: Pool) -> [JSONValue] {
        struct Key: Hashable, Comparable {
            var source: Int32, language: String
            static func < (a: Key, b: Key) -> Bool { (a.source, a.language) < (b.source, b.language) }
        }
        struct Packed: Hashable { var source: Int32, language: UInt64 }
        var packed: [Packed: (Int, Int)] = [:]  // records, characters
        for i in entries {
            let e = pool.entries[Int(i)]
            let k = Packed(source: e.source, language: e.language)
            let v = packed[k] ?? (0, 0)
            packed[k] = (v.0 + 1, v.1 + Int(e.characters))
        }
        var records: [Key: (Int, Int)] = [:]
        for (k, v) in packed { records[Key(source: k.source, language: PoolEntry.unpack(k.language))] = v }
        return records.keys.sorted().map { k in
            let source = pool.config.sources[Int(k.source)]
            return .object([
                ("source", .string(source.name)), ("language", .string(k.language)), ("objective", .string(source.objective)),
                ("records", .int(records[k]!.0)), ("characters", .int(records[k]!.1)),
            ])
        }
    }
}
