import Datasets
import Foundation
import Yams

/// Reads a mixture YAML file, checking every key and value. Errors name the file, the line and
/// the key: `mix.yml:12: mixtures[1].shares: shares sum to 1.2 …`.
public struct MixtureParser {
    public let fileName: String

    public init(fileName: String = "mix.yml") { self.fileName = fileName }

    static let topKeys = ["seed", "languages", "dedup", "held_out", "held_out_mode", "defaults", "sources", "mixtures"]
    static let sourceKeys = ["name", "path", "split", "format", "objective", "language", "language_map", "fields", "group_namespace"]
    static let mixtureKeys = [
        "name", "shares", "ratio", "unit", "within", "languages", "weighting", "size", "oversample", "kinds", "held_out_mode",
    ]

    public func parse(_ text: String) throws -> MixtureConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw MixError("\(fileName): the file is empty") }
            root = node
        } catch let e as MixError { throw e } catch {
            throw MixError("\(fileName): not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
        }
        guard let map = root.mapping else { throw fail(root, "top level", "expected a mapping with sources: and mixtures:") }
        try checkKeys(map, Self.topKeys, "top level")
        var config = MixtureConfig(seed: 0, sources: [], languages: nil, dedup: .normalized, heldOut: nil, mixtures: [], sourceText: text)
        if let s = map["seed"] {
            guard let v = s.int, v >= 0 else { throw fail(s, "seed", "expected a non-negative integer") }
            config.seed = UInt64(v)
        }
        if let l = map["languages"] { config.languages = try languages(l, "languages") }
        if let d = map["dedup"] {
            guard let v = d.string, let mode = MixtureConfig.Dedup(rawValue: v) else {
                throw fail(d, "dedup", "expected none, exact or normalized")
            }
            config.dedup = mode
        }
        var heldOutMode = MixtureSpec.HeldOutMode.shares
        if let m = map["held_out_mode"] { heldOutMode = try self.heldOutMode(m, "held_out_mode") }
        if let h = map["held_out"] {
            var fractionNode = h
            if let hm = h.mapping {
                try checkKeys(hm, ["fraction", "mode"], "held_out")
                guard let f = hm["fraction"] else { throw fail(h, "held_out", "expected {fraction: 0.1, mode: shares}") }
                fractionNode = f
                if let m = hm["mode"] {
                    if map["held_out_mode"] != nil { throw fail(m, "held_out.mode", "give held_out_mode: or held_out.mode:, not both") }
                    heldOutMode = try self.heldOutMode(m, "held_out.mode")
                }
            }
            guard let f = fractionNode.float, f >= 0, f < 1 else { throw fail(fractionNode, "held_out.fraction", "expected a number in [0, 1)") }
            config.heldOut = f > 0 ? .init(fraction: f) : nil
        }
        guard let sourcesNode = map["sources"] else { throw MixError("\(fileName): sources: missing (a list of {name, path, objective})") }
        guard let sourceList = sourcesNode.sequence, !sourceList.isEmpty else { throw fail(sourcesNode, "sources", "expected a non-empty list") }
        for (i, node) in sourceList.enumerated() {
            let s = try source(node, "sources[\(i)]")
            if config.sources.contains(where: { $0.name == s.name }) { throw fail(node, "sources[\(i)].name", "'\(s.name)' is used twice") }
            config.sources.append(s)
        }
        let objectives = Set(config.sources.map(\.objective))
        let defaults = map["defaults"]
        if let d = defaults {
            guard let dm = d.mapping else { throw fail(d, "defaults", "expected a mapping of mixture settings") }
            try checkKeys(dm, Self.mixtureKeys.filter { $0 != "name" }, "defaults")
        }
        guard let mixturesNode = map["mixtures"] else { throw MixError("\(fileName): mixtures: missing (a list of {name, shares})") }
        guard let mixtureList = mixturesNode.sequence, !mixtureList.isEmpty else { throw fail(mixturesNode, "mixtures", "expected a non-empty list") }
        for (i, node) in mixtureList.enumerated() {
            let m = try mixture(node, "mixtures[\(i)]", defaults: defaults?.mapping, objectives: objectives, heldOutMode: heldOutMode)
            if config.mixtures.contains(where: { $0.name == m.name }) { throw fail(node, "mixtures[\(i)].name", "'\(m.name)' is used twice") }
            config.mixtures.append(m)
        }
        return config
    }

    func fail(_ node: Node, _ key: String, _ message: String) -> MixError {
        MixError("\(fileName):\(node.mark?.line ?? 0): \(key): \(message)")
    }

    func checkKeys(_ map: Node.Mapping, _ known: [String], _ path: String) throws {
        for (k, _) in map {
            guard let key = k.string, known.contains(key) else {
                throw fail(k, path, "unknown key '\(k.string ?? "?")' (known: \(known.joined(separator: ", ")))")
            }
        }
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard node.scalar != nil, let s = node.string, !s.isEmpty else { throw fail(node, key, "expected a non-empty string") }
        return s
    }

    func languages(_ node: Node, _ key: String) throws -> [String] {
        let items = node.sequence ?? [node]
        guard !items.isEmpty else { throw fail(node, key, "expected a list of languages") }
        return try items.map { n in
            let s = try string(n, key)
            guard let code = Languages.canonical(s) else { throw fail(n, key, "unknown language '\(s)'") }
            return code
        }
    }

    func source(_ node: Node, _ key: String) throws -> SourceSpec {
        guard let map = node.mapping else { throw fail(node, key, "expected {name, path, objective}") }
        try checkKeys(map, Self.sourceKeys, key)
        guard let pathNode = map["path"] else { throw fail(node, key, "path: missing") }
        let path = try string(pathNode, "\(key).path")
        let name = try map["name"].map { try string($0, "\(key).name") }
            ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var reader = RecordReader()
        if let f = map["format"] {
            let s = try string(f, "\(key).format")
            guard let format = RecordFormat(rawValue: s) else {
                throw fail(f, "\(key).format", "unknown format '\(s)' (known: \(RecordFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            reader.format = format
        }
        if let l = map["language"] {
            let s = try string(l, "\(key).language")
            guard let code = Languages.canonical(s) else { throw fail(l, "\(key).language", "unknown language '\(s)'") }
            reader.defaultLanguage = code
        }
        if let lm = map["language_map"] {
            guard let m = lm.mapping else { throw fail(lm, "\(key).language_map", "expected {spelling: code}") }
            for (k, v) in m {
                let spelling = try string(k, "\(key).language_map")
                let target = try string(v, "\(key).language_map.\(spelling)")
                reader.languageMap[spelling] = Languages.canonical(target) ?? target
            }
        }
        if let fm = map["fields"] {
            guard let m = fm.mapping else { throw fail(fm, "\(key).fields", "expected {field: key in the file}") }
            for (k, v) in m {
                let field = try string(k, "\(key).fields")
                guard let f = RecordField(rawValue: field) else {
                    throw fail(k, "\(key).fields", "unknown field '\(field)' (known: \(RecordField.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                reader.fieldMap[f] = try string(v, "\(key).fields.\(field)")
            }
        }
        let objective = try map["objective"].map { try string($0, "\(key).objective") } ?? name
        let namespace = try map["group_namespace"].map { try string($0, "\(key).group_namespace") } ?? objective
        let split = try map["split"].map { try string($0, "\(key).split") }
        return SourceSpec(name: name, path: path, split: split, objective: objective, reader: reader, groupNamespace: namespace)
    }

    func heldOutMode(_ node: Node, _ key: String) throws -> MixtureSpec.HeldOutMode {
        guard let s = node.string, let mode = MixtureSpec.HeldOutMode(rawValue: s) else {
            throw fail(node, key, "expected shares (held-out drawn to the mixture's shares) or pool (every held-out record)")
        }
        return mode
    }

    func mixture(
        _ node: Node, _ key: String, defaults: Node.Mapping?, objectives: Set<String>, heldOutMode: MixtureSpec.HeldOutMode
    ) throws -> MixtureSpec {
        guard let own = node.mapping else { throw fail(node, key, "expected {name, shares}") }
        try checkKeys(own, Self.mixtureKeys, key)
        func value(_ k: String) -> (Node, String)? {
            if let v = own[k] { return (v, "\(key).\(k)") }
            if let v = defaults?[k] { return (v, "defaults.\(k)") }
            return nil
        }
        guard let nameNode = own["name"] else { throw fail(node, key, "name: missing") }
        let name = try string(nameNode, "\(key).name")
        guard !name.contains("/"), !name.hasPrefix(".") else { throw fail(nameNode, "\(key).name", "must be a plain folder name") }
        var spec = MixtureSpec(
            name: name, shares: [], sharesText: "", unit: .examples, scope: .overall, languages: nil,
            weighting: .proportional, size: .max, maxEpochs: nil, kinds: [.sft], heldOutMode: heldOutMode)
        if let (m, k) = value("held_out_mode") { spec.heldOutMode = try self.heldOutMode(m, k) }

        switch (value("shares"), value("ratio")) {
        case (nil, nil): throw fail(node, key, "give shares: {safety: 0.15} or ratio: {safety: 1, general: 5}")
        case (.some(let (s, k)), .some): throw fail(s, k, "give either shares: or ratio:, not both")
        case (.some(let (s, k)), nil):
            let pairs = try numbers(s, k, objectives: objectives)
            var total = pairs.reduce(0) { $0 + $1.1 }
            var all = pairs
            let missing = objectives.subtracting(pairs.map(\.0)).sorted()
            if abs(total - 1) > 1e-9 {
                guard total < 1, missing.count == 1 else {
                    throw fail(s, k, "shares sum to \(total); they must sum to 1 (or leave exactly one objective out to take the rest)")
                }
                all.append((missing[0], 1 - total))
                total = 1
            }
            spec.shares = all.map { ($0.0, $0.1) }
            spec.sharesText = "shares " + all.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
        case (nil, .some(let (r, k))):
            let pairs = try numbers(r, k, objectives: objectives)
            let total = pairs.reduce(0) { $0 + $1.1 }
            guard total > 0 else { throw fail(r, k, "a ratio needs at least one positive part") }
            spec.shares = pairs.map { ($0.0, $0.1 / total) }
            spec.sharesText = "ratio " + pairs.map(\.0).joined(separator: ":") + " = " + pairs.map { formatNumber($0.1) }.joined(separator: ":")
        }
        if let (u, k) = value("unit") {
            guard let s = u.string, let unit = MixtureSpec.Unit(rawValue: s) else { throw fail(u, k, "expected examples or characters") }
            spec.unit = unit
        }
        if let (w, k) = value("within") {
            guard let s = w.string, let scope = MixtureSpec.Scope(rawValue: s) else { throw fail(w, k, "expected overall or language") }
            spec.scope = scope
        }
        if let (l, k) = value("languages") { spec.languages = try languages(l, k) }
        if let (w, k) = value("weighting") { spec.weighting = try weighting(w, k) }
        if let (s, k) = value("size") {
            if s.string == "max" { spec.size = .max } else {
                guard let n = s.int, n > 0 else { throw fail(s, k, "expected a positive number of \(spec.unit.rawValue) or max") }
                spec.size = .count(n)
            }
        }
        if let (o, k) = value("oversample") {
            if let b = o.bool { spec.maxEpochs = b ? .infinity : nil } else {
                guard let e = o.float, e >= 1 else { throw fail(o, k, "expected false, true, or the largest number of passes over any data (≥ 1)") }
                spec.maxEpochs = e
            }
        }
        if let (kn, k) = value("kinds") {
            let items = kn.sequence ?? [kn]
            spec.kinds = try items.map { n in
                guard let s = n.string, let kind = MixtureSpec.Kind(rawValue: s) else { throw fail(n, k, "expected sft and/or dpo") }
                return kind
            }
            guard !spec.kinds.isEmpty else { throw fail(kn, k, "expected sft and/or dpo") }
        }
        if case .unimax = spec.weighting, spec.size == .max, spec.maxEpochs == .infinity {
            throw fail(node, key, "size: max with unlimited oversampling has no limit; give size: N")
        }
        if spec.size == .max && spec.maxEpochs == .infinity {
            throw fail(node, key, "size: max with oversample: true has no limit; give size: N or oversample: <max passes>")
        }
        return spec
    }

    func numbers(_ node: Node, _ key: String, objectives: Set<String>) throws -> [(String, Double)] {
        guard let map = node.mapping, !map.isEmpty else { throw fail(node, key, "expected {objective: number, …}") }
        var out: [(String, Double)] = []
        for (k, v) in map {
            let objective = try string(k, key)
            guard objectives.contains(objective) else {
                throw fail(k, key, "no source has objective '\(objective)' (objectives: \(objectives.sorted().joined(separator: ", ")))")
            }
            guard let x = v.float, x >= 0, x.isFinite else { throw fail(v, "\(key).\(objective)", "expected a non-negative number") }
            out.append((objective, x))
        }
        return out
    }

    func weighting(_ node: Node, _ key: String) throws -> MixtureSpec.Weighting {
        if let s = node.string, node.scalar != nil {
            switch s {
            case "proportional": return .proportional
            case "uniform": return .uniform
            case "unimax": return .unimax(maxEpochs: 1)
            case "temperature": throw fail(node, key, "give the exponent: {temperature: 0.3} (q ∝ p^0.3)")
            default: throw fail(node, key, "expected proportional, uniform, {temperature: ALPHA} or {unimax: MAX_EPOCHS}")
            }
        }
        guard let map = node.mapping, map.count == 1, let (k, v) = map.first, let name = k.string else {
            throw fail(node, key, "expected proportional, uniform, {temperature: ALPHA} or {unimax: MAX_EPOCHS}")
        }
        switch name {
        case "temperature":
            guard let a = v.float, a >= 0, a.isFinite else { throw fail(v, "\(key).temperature", "expected an exponent alpha ≥ 0 (q ∝ p^alpha)") }
            return .temperature(a)
        case "unimax":
            guard let e = v.float, e > 0, e.isFinite else { throw fail(v, "\(key).unimax", "expected the largest number of epochs per language (> 0)") }
            return .unimax(maxEpochs: e)
        default: throw fail(k, key, "unknown weighting '\(name)'")
        }
    }
}

func formatNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
}
