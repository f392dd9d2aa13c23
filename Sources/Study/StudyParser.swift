import Foundation
import Datasets
import Merging
import Mixing
import Training
import Yams

/// Reads a study file, collecting every problem (each `file:line: message`) rather than stopping at
/// the first, so that one run of `--dry-run` shows all of them.
public struct StudyParser {
    public let path: URL
    var problems: [String] = []
    var file: StudyFile

    static let topKeys = ["name", "seed", "mix", "models", "defaults", "train", "merge", "evaluate", "report", "profiles"]
    static let runKeys = ["from", "data", "objective", "ref_model", "engine", "command", "settings"]
    static let mergeKeys = ["sweep", "config", "engine", "command"]

    /// A profile's overrides: trainer settings for every run, one sweep for every swept merge,
    /// and a cap on prompts per language.
    var profileTrain: [(String, String)] = []
    var profileSweep: [Double]?
    var profilePrompts: Int?

    public init(path: URL) {
        self.path = path.standardizedFileURL
        file = StudyFile(path: self.path, name: self.path.deletingPathExtension().lastPathComponent)
    }

    /// Parses the file at `path`; throws a `StudyError` listing every problem.
    public static func parse(_ path: URL, profile: String? = nil, lenient: Bool = false) throws -> StudyFile {
        var p = StudyParser(path: path)
        p.lenient = lenient
        p.file.profile = profile
        guard let data = FileManager.default.contents(atPath: p.path.path) else {
            throw StudyError("\(path.path): no such study file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw StudyError("\(path.path): not UTF-8 text") }
        p.parse(text)
        if !p.problems.isEmpty { throw StudyError(p.problems) }
        p.file.warnings = p.warnings
        return p.file
    }

    /// With `lenient` (a dry run), inputs that do not exist yet (data, model folders, prompt files,
    /// key variables) are warnings: the plan of a study whose files are still to be fetched prints.
    public var lenient = false
    public var warnings: [String] = []

    mutating func missing(_ node: Node?, _ message: String) {
        if lenient { warnings.append("\(file.fileName):\(node?.mark?.line ?? 0): \(message)") } else { problem(node, message) }
    }

    mutating func problem(_ node: Node?, _ message: String) {
        let line = node?.mark?.line ?? 0
        problems.append("\(file.fileName):\(line): \(message)")
    }

    func resolve(_ relative: String) -> URL {
        relative.hasPrefix("/") ? URL(fileURLWithPath: relative).standardizedFileURL
            : file.directory.appendingPathComponent(relative).standardizedFileURL
    }

    mutating func checkKeys(_ map: Node.Mapping, _ allowed: [String], _ what: String) {
        for (k, _) in map {
            guard let key = k.string else { problem(k, "\(what): keys must be strings"); continue }
            if !allowed.contains(key) { problem(k, "\(what): unknown key '\(key)' (expected one of \(allowed.joined(separator: ", ")))") }
        }
    }

    mutating func parse(_ text: String) {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { problems.append("\(file.fileName): the file is empty"); return }
            root = node
        } catch {
            problems.append("\(file.fileName): not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
            return
        }
        guard let map = root.mapping else { problem(root, "expected a mapping (name:, mix:, train:, merge:, evaluate:, report:)"); return }
        checkKeys(map, Self.topKeys, "top level")
        if let n = map["name"] { if let s = n.string { file.name = s } else { problem(n, "name: expected a string") } }
        if let n = map["seed"] { if let v = n.int, v >= 0 { file.seed = UInt64(v) } else { problem(n, "seed: expected a non-negative integer") } }
        if let n = map["mix"] { parseMix(n) }
        if let n = map["models"] { parseModels(n) }
        if let name = file.profile { parseProfile(map["profiles"], name) }
        let defaults = map["defaults"]?.mapping
        if let d = map["defaults"] {
            if let dm = d.mapping { checkKeys(dm, ["train", "sft", "dpo"], "defaults") } else { problem(d, "defaults: expected a mapping") }
        }
        if let n = map["train"] { parseRuns(n, defaults: defaults) }
        if let n = map["merge"] { parseMerges(n) }
        if let n = map["evaluate"] { parseEvaluation(n) }
        if let n = map["report"] { parseReport(n) }
    }

    mutating func parseProfile(_ node: Node?, _ name: String) {
        guard let p = node?.mapping?[name] else {
            let known = node?.mapping?.compactMap { $0.key.string } ?? []
            problems.append("\(file.fileName): no profile '\(name)' (profiles: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            return
        }
        guard let m = p.mapping else { problem(p, "profiles.\(name): expected {train, sweep, prompts}"); return }
        checkKeys(m, ["train", "sweep", "prompts"], "profiles.\(name)")
        profileTrain = settings(m["train"], "profiles.\(name).train")
        if let s = m["sweep"] {
            if let list = s.sequence, !list.isEmpty, list.allSatisfy({ $0.float != nil }) { profileSweep = list.compactMap(\.float) } else {
                problem(s, "profiles.\(name).sweep: expected a list of numbers")
            }
        }
        if let n = m["prompts"] {
            if let v = n.int, v > 0 { profilePrompts = v } else { problem(n, "profiles.\(name).prompts: expected a positive integer (prompts per language)") }
        }
    }

    // MARK: data

    mutating func parseMix(_ node: Node) {
        if let s = node.string {
            let url = resolve(s)
            guard FileManager.default.fileExists(atPath: url.path) else { problem(node, "mix: \(url.path): no such mixture file"); return }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { problem(node, "mix: \(url.path): not readable"); return }
            checkMixture(text, name: url.lastPathComponent, base: url.deletingLastPathComponent(), node: node)
            file.mix = .file(url)
        } else if var m = node.mapping {
            // Inline: the mix schema itself; relative source paths are made absolute (the file is
            // written into the study's output folder).
            if case .sequence(var sources)? = m["sources"] {
                for i in sources.indices {
                    guard case .mapping(var sm) = sources[i], let p = sm["path"]?.string else { continue }
                    sm["path"] = Node(resolve(p).path)
                    sources[i] = .mapping(sm)
                }
                m["sources"] = .sequence(sources)
            }
            guard let text = try? Yams.serialize(node: .mapping(m)) else { problem(node, "mix: cannot re-serialise the inline mixture"); return }
            checkMixture(text, name: file.fileName + " (mix:)", base: file.directory, node: node)
            file.mix = .inline(text)
        } else {
            problem(node, "mix: expected a mixture file path or an inline mixture mapping")
        }
    }

    /// Mixture names and that every source file exists, with the mixer's own parser.
    mutating func checkMixture(_ text: String, name: String, base: URL, node: Node) {
        do {
            let config = try MixtureParser(fileName: name).parse(text)
            for m in config.mixtures { file.lines["mixture " + m.name] = node.mark?.line ?? 0 }
            mixtureNames = config.mixtures.map(\.name)
            mixtureKinds = Dictionary(uniqueKeysWithValues: config.mixtures.map { ($0.name, Set($0.kinds.map(\.rawValue))) })
            for s in config.sources {
                let p = s.path.hasPrefix("/") ? s.path : base.appendingPathComponent(s.path).path
                let hasGlob = p.contains("*") || p.contains("?") || p.contains("[")
                if !hasGlob && !FileManager.default.fileExists(atPath: p) {
                    missing(node, "mix: source '\(s.name)': \(p): no such data file")
                }
            }
        } catch {
            problems.append("\(error)")
        }
    }

    var mixtureNames: [String] = []
    var mixtureKinds: [String: Set<String>] = [:]

    mutating func parseModels(_ node: Node) {
        guard let map = node.mapping else { problem(node, "models: expected a mapping of name: path"); return }
        for (k, v) in map {
            guard let name = k.string else { continue }
            file.lines[name] = k.mark?.line ?? 0
            if let s = v.string {
                let url = resolve(s)
                var dir: ObjCBool = false
                if !FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) || !dir.boolValue {
                    missing(v, "models.\(name): \(url.path): no such model folder")
                }
                file.models[name] = .folder(url)
            } else if let m = v.mapping {
                checkKeys(m, ["url", "model", "key_env"], "models.\(name)")
                guard let url = m["url"]?.string, let model = m["model"]?.string else {
                    problem(v, "models.\(name): an endpoint model needs url: and model:"); continue
                }
                let keyEnv = m["key_env"]?.string
                if let keyEnv, (ProcessInfo.processInfo.environment[keyEnv] ?? "").isEmpty {
                    missing(v, "models.\(name): the key variable \(keyEnv) is not set")
                }
                file.models[name] = .endpoint(url: url, model: model, keyEnv: keyEnv)
            } else {
                problem(v, "models.\(name): expected a folder path or {url, model, key_env}")
            }
        }
    }

    // MARK: training

    /// A settings mapping as `key: value` pairs in YAML's own spelling.
    mutating func settings(_ node: Node?, _ what: String) -> [(String, String)] {
        guard let node else { return [] }
        guard let map = node.mapping else { problem(node, "\(what): expected a mapping of trainer settings"); return [] }
        var out: [(String, String)] = []
        for (k, v) in map {
            guard let key = k.string else { continue }
            guard let text = try? Yams.serialize(node: v).trimmingCharacters(in: .whitespacesAndNewlines) else { continue }
            out.append((key.replacingOccurrences(of: "-", with: "_"), text))
        }
        return out
    }

    static func merged(_ base: [(String, String)], _ over: [(String, String)]) -> [(String, String)] {
        var out = base.filter { b in !over.contains { $0.0 == b.0 } }
        out += over
        return out
    }

    mutating func engine(_ map: Node.Mapping, _ what: String, trainer: Bool) -> StudyFile.Engine {
        let command = map["command"]?.string
        guard let e = map["engine"] else { return command.map { .command($0) } ?? .local }
        switch e.string {
        case "local"?: return .local
        case "trl"? where trainer: return .trl(command: command ?? "{trl}/launch.sh")
        case "command"?:
            guard let command else { problem(e, "\(what): engine: command needs command: \"… {out}\""); return .local }
            return .command(command)
        default:
            problem(e, "\(what).engine: expected \(trainer ? "local, trl or command" : "local or command")")
            return .local
        }
    }

    mutating func parseRuns(_ node: Node, defaults: Node.Mapping?) {
        guard let map = node.mapping else { problem(node, "train: expected a mapping of run name: {from, data, objective}"); return }
        // defaults.train may also name the engine (and its command) of every run.
        var trainDefaults = defaults?["train"]
        var defaultEngine: Node.Mapping?
        if case .mapping(var dm)? = trainDefaults {
            var em = Node.Mapping([])
            for key in ["engine", "command"] { if let v = dm[key] { em[Node(key)] = v; dm[key] = nil } }
            if !em.isEmpty { defaultEngine = em }
            trainDefaults = .mapping(dm)
        }
        let common = settings(trainDefaults, "defaults.train")
        let perObjective = ["sft": settings(defaults?["sft"], "defaults.sft"), "dpo": settings(defaults?["dpo"], "defaults.dpo")]
        for (k, v) in map {
            guard let name = k.string else { continue }
            let what = "train.\(name)"
            if file.lines[name] != nil { problem(k, "\(what): the name '\(name)' is used twice"); continue }
            file.lines[name] = k.mark?.line ?? 0
            guard let m = v.mapping else { problem(v, "\(what): expected {from, data, objective}"); continue }
            checkKeys(m, Self.runKeys, what)
            guard let from = m["from"]?.string else { problem(v, "\(what): from: missing (the model to start from)"); continue }
            guard let objectiveText = m["objective"]?.string, let objective = StudyFile.Objective(rawValue: objectiveText) else {
                problem(m["objective"] ?? v, "\(what).objective: expected sft or dpo"); continue
            }
            guard let dataNode = m["data"], let dataText = dataNode.string else { problem(v, "\(what): data: missing (a mixture name or a file)"); continue }
            let data: StudyFile.DataRef
            if mixtureNames.contains(dataText) {
                data = .mixture(dataText)
                if let kinds = mixtureKinds[dataText], !kinds.contains(objective.rawValue) {
                    problem(dataNode, "\(what).data: mixture '\(dataText)' has no \(objective.rawValue) files (its kinds: \(kinds.sorted().joined(separator: ", ")))")
                }
            } else {
                let url = resolve(dataText)
                if FileManager.default.fileExists(atPath: url.path) { data = .file(url) } else if lenient && (dataText.contains("/") || dataText.contains(".")) {
                    missing(dataNode, "\(what).data: \(url.path): no such data file")
                    data = .file(url)
                } else {
                    let known = mixtureNames.isEmpty ? "the study has no mix:" : "mixtures: \(mixtureNames.joined(separator: ", "))"
                    problem(dataNode, "\(what).data: '\(dataText)' is neither a mixture nor a file (\(known))")
                    continue
                }
            }
            let s = Self.merged(Self.merged(Self.merged(common, perObjective[objective.rawValue] ?? []), settings(m["settings"], "\(what).settings")),
                                profileTrain)
            checkSettings(s, objective: objective, node: m["settings"] ?? v, what: what)
            file.runs.append(StudyFile.TrainRun(
                name: name, line: k.mark?.line ?? 0, from: from, data: data, objective: objective, refModel: m["ref_model"]?.string,
                engine: m["engine"] != nil || m["command"] != nil || defaultEngine == nil ? engine(m, what, trainer: true)
                    : engine(defaultEngine!, "defaults.train", trainer: true), settings: s))
        }
    }

    /// The trainer's own parser and checks, so a bad learning rate is found before anything runs.
    mutating func checkSettings(_ s: [(String, String)], objective: StudyFile.Objective, node: Node, what: String) {
        for (k, _) in s where ["objective", "model", "data", "out", "ref_model"].contains(k) {
            problem(node, "\(what).settings: '\(k)' is set by the study, not in settings")
        }
        let yaml = StudyFile.settingsYAML(s, objective: objective, model: "m", data: "d", out: "o")
        do {
            let t = try TrainSettings.load(yaml: yaml, file: "\(what).settings")
            try t.validate()
        } catch {
            problem(node, "\(error)")
        }
    }

    // MARK: merging

    mutating func parseMerges(_ node: Node) {
        guard let map = node.mapping else { problem(node, "merge: expected a mapping of merge name: {config, sweep}"); return }
        for (k, v) in map {
            guard let name = k.string else { continue }
            let what = "merge.\(name)"
            if file.lines[name] != nil { problem(k, "\(what): the name '\(name)' is used twice"); continue }
            if name.contains("@") { problem(k, "\(what): '@' is reserved for sweep members (\(name)@0.3)"); continue }
            file.lines[name] = k.mark?.line ?? 0
            guard let m = v.mapping else { problem(v, "\(what): expected {config: <mergekit YAML>, sweep: [...]}"); continue }
            checkKeys(m, Self.mergeKeys, what)
            var sweep: [Double]?
            if let s = m["sweep"] {
                if let list = s.sequence, !list.isEmpty, list.allSatisfy({ $0.float != nil }) {
                    sweep = profileSweep ?? list.compactMap(\.float)
                } else { problem(s, "\(what).sweep: expected a list of numbers, e.g. [0, 0.3, 0.5, 0.7, 1]") }
            }
            guard let config = m["config"] else { problem(v, "\(what): config: missing (a mergekit config)"); continue }
            var configNode = config
            if let text = config.string {  // a path to a mergekit YAML file
                let url = resolve(text)
                guard let t = try? String(contentsOf: url, encoding: .utf8), let n = try? Yams.compose(yaml: t) else {
                    problem(config, "\(what).config: \(url.path): no such mergekit file (or not YAML)"); continue
                }
                configNode = n
            }
            guard configNode.mapping != nil else { problem(config, "\(what).config: expected a mergekit config mapping"); continue }
            // mergekit's own schema, checked now (with a sample weight), not after hours of training.
            if let text = try? Yams.serialize(node: Self.substituted(configNode, w: sweep?.first ?? 0.5)) {
                do { _ = try ConfigParser(fileName: "\(what).config").parse(text) } catch { problem(config, "\(error)") }
            }
            let placeholders = Self.hasPlaceholder(configNode)
            if sweep != nil && !placeholders { problem(m["sweep"], "\(what): sweep: given but the config has no {w} or {1-w}") }
            if sweep == nil && placeholders { problem(config, "\(what): the config uses {w} but there is no sweep:") }
            file.merges.append(StudyFile.MergeSpec(
                name: name, line: k.mark?.line ?? 0, sweep: sweep, configText: (try? Yams.serialize(node: configNode)) ?? "", engine: engine(m, what, trainer: false),
                inputs: Self.modelNames(configNode)))
        }
    }

    /// `{w}` and `{1-w}` replaced by a weight.
    static func substituted(_ n: Node, w: Double) -> Node {
        switch n {
        case .scalar(let s):
            if s.string == "{w}" { return Node(StudyFile.format(w)) }
            if s.string == "{1-w}" { return Node(StudyFile.format(((1 - w) * 1e9).rounded() / 1e9)) }
            return n
        case .mapping(var m):
            for (k, v) in m { m[k] = substituted(v, w: w) }
            return .mapping(m)
        case .sequence(var q):
            for i in q.indices { q[i] = substituted(q[i], w: w) }
            return .sequence(q)
        case .alias: return n
        }
    }

    static func hasPlaceholder(_ node: Node) -> Bool {
        switch node {
        case .scalar(let s): return s.string == "{w}" || s.string == "{1-w}"
        case .mapping(let m): return m.contains { hasPlaceholder($0.value) }
        case .sequence(let s): return s.contains { hasPlaceholder($0) }
        case .alias: return false
        }
    }

    static let modelKeys: Set<String> = ["model", "base_model", "tokenizer_source"]

    /// The model names under `model:`, `base_model:` and `tokenizer_source:` anywhere in a config.
    static func modelNames(_ node: Node) -> [String] {
        var out: [String] = []
        func walk(_ n: Node) {
            switch n {
            case .mapping(let m):
                for (k, v) in m {
                    if let key = k.string, modelKeys.contains(key), let s = v.string {
                        // `union` and `base` are mergekit's keywords only as a tokenizer source.
                        let keyword = key == "tokenizer_source" && ["union", "base"].contains(s)
                        if !out.contains(s) && !keyword { out.append(s) }
                    } else { walk(v) }
                }
            case .sequence(let s): s.forEach(walk)
            default: break
            }
        }
        walk(node)
        return out
    }

    // MARK: evaluation

    mutating func parseEvaluation(_ node: Node) {
        guard let map = node.mapping else { problem(node, "evaluate: expected a mapping"); return }
        checkKeys(map, ["prompts", "reference", "generation", "judge", "select", "candidates", "replicates"], "evaluate")
        var e = StudyFile.EvaluationSpec()
        if let p = map["prompts"]?.mapping {
            for (k, v) in p {
                guard let name = k.string, let m = v.mapping else { problem(v, "evaluate.prompts: expected name: {kind, format, validation, test}"); continue }
                let what = "evaluate.prompts.\(name)"
                checkKeys(m, ["kind", "format", "validation", "test"], what)
                guard let kind = m["kind"]?.string.flatMap(StudyFile.PromptSet.Kind.init) else { problem(m["kind"] ?? v, "\(what).kind: expected harm or general"); continue }
                guard let testNode = m["test"], let test = testNode.string else { problem(v, "\(what): test: missing (the prompts the report is computed on)"); continue }
                let testURL = resolve(test)
                if !FileManager.default.fileExists(atPath: testURL.path) { missing(testNode, "\(what).test: \(testURL.path): no such prompt file") }
                var validation: URL?
                if let vn = m["validation"], let vs = vn.string {
                    let url = resolve(vs)
                    if !FileManager.default.fileExists(atPath: url.path) { missing(vn, "\(what).validation: \(url.path): no such prompt file") }
                    validation = url
                }
                let format = m["format"]?.string ?? "auto"
                if RecordFormat(rawValue: format) == nil {
                    problem(m["format"], "\(what).format: unknown reader '\(format)' (e.g. aya_redteaming, aya_evaluation, prompts, messages, auto)")
                }
                e.sets.append(StudyFile.PromptSet(name: name, line: k.mark?.line ?? 0, kind: kind, format: format,
                                                  validation: validation, test: testURL))
            }
        } else { problem(map["prompts"] ?? node, "evaluate.prompts: missing (name: {kind: harm|general, format, validation, test})") }
        if let r = map["reference"] {
            e.reference = r.string ?? ""
            e.referenceLine = r.mark?.line ?? 0
        } else { problem(node, "evaluate.reference: missing (the base model that changes and win-rates are measured against)") }
        if let g = map["generation"] {
            if let gm = g.mapping {
                checkKeys(gm, ["engine", "command", "startup_seconds", "temperature", "max_tokens", "top_p", "seed", "concurrency"], "evaluate.generation")
                switch gm["engine"]?.string ?? "local" {
                case "local": e.generation = .local
                case "serve":
                    guard let c = gm["command"]?.string, c.contains("{port}"), c.contains("{model}") else {
                        problem(g, "evaluate.generation: engine: serve needs command: \"… {model} … {port}\" (both fields)"); break
                    }
                    e.generation = .serve(command: c, startupSeconds: gm["startup_seconds"]?.float ?? 600)
                default: problem(gm["engine"], "evaluate.generation.engine: expected local or serve")
                }
                var sampling: [(String, String)] = []
                for key in ["temperature", "max_tokens", "top_p", "seed"] {
                    if let v = gm[key]?.string { sampling.append((key, v)) }
                }
                if !sampling.contains(where: { $0.0 == "temperature" }) { sampling.insert(("temperature", "0"), at: 0) }
                if !sampling.contains(where: { $0.0 == "max_tokens" }) { sampling.append(("max_tokens", "64")) }
                e.sampling = sampling
                if let c = gm["concurrency"]?.int { e.concurrency = max(1, c) }
            } else { problem(g, "evaluate.generation: expected a mapping") }
        }
        if let j = map["judge"] {
            e.judgeLine = j.mark?.line ?? 0
            if j.string == "rules" { e.judge = .rules } else if let jm = j.mapping {
                checkKeys(jm, ["engine", "url", "model", "key_env", "cache_key", "logprobs"], "evaluate.judge")
                if jm["engine"]?.string == "rules" { e.judge = .rules } else {
                    guard let url = jm["url"]?.string, let model = jm["model"]?.string else {
                        problem(j, "evaluate.judge: expected rules or {url, model, key_env}"); return
                    }
                    var spec = "url=\(url),model=\(model)"
                    let keyEnv = jm["key_env"]?.string
                    if let keyEnv { spec += ",key_env=\(keyEnv)" }
                    if let c = jm["cache_key"]?.string { spec += ",cache_key=\(c)" }
                    if let l = jm["logprobs"]?.string { spec += ",logprobs=\(l)" }
                    e.judge = .endpoint(spec: spec, keyEnv: keyEnv)
                }
            } else { problem(j, "evaluate.judge: expected rules or {url, model, key_env}") }
        }
        if let s = map["select"] {
            guard let sm = s.mapping else { problem(s, "evaluate.select: expected {on: validation, score: win_minus_harm}"); return }
            checkKeys(sm, ["on", "score"], "evaluate.select")
            if let on = sm["on"], on.string != "validation" {
                problem(on, "evaluate.select.on: a weight search is scored on the validation prompts only; '\(on.string ?? "")' "
                    + "would tune the merge on the prompts it is then reported on (the test prompts), biasing the result")
            }
            if let sc = sm["score"] {
                if let v = sc.string.flatMap(StudyFile.EvaluationSpec.Score.init) { e.score = v } else {
                    problem(sc, "evaluate.select.score: expected win_minus_harm, win or harm")
                }
            }
        }
        if let c = map["candidates"] {
            if let list = c.sequence { e.candidates = list.compactMap(\.string) } else { problem(c, "evaluate.candidates: expected a list of model names") }
        }
        if let r = map["replicates"] { if let v = r.int, v >= 10 { e.replicates = v } else { problem(r, "evaluate.replicates: expected an integer ≥ 10") } }
        e.perLanguage = profilePrompts
        file.evaluation = e
        file.lines["evaluate"] = node.mark?.line ?? 0
    }

    // MARK: report

    mutating func parseReport(_ node: Node) {
        guard let map = node.mapping else { problem(node, "report: expected a mapping"); return }
        checkKeys(map, ["title", "baseline", "table1", "table2", "languages", "ablation"], "report")
        var r = StudyFile.ReportSpec()
        if let t = map["title"]?.string { r.title = t }
        if let b = map["baseline"] {
            if let bm = b.mapping {
                r.baselineSFT = bm["sft"]?.string
                r.baselineDPO = bm["dpo"]?.string
            } else { problem(b, "report.baseline: expected {sft: NAME, dpo: NAME} (the 15 % mix)") }
        }
        func rows(_ key: String, staged: Bool) -> [StudyFile.ReportSpec.Row] {
            guard let n = map[key] else { return [] }
            guard let list = n.sequence else { problem(n, "report.\(key): expected a list of rows"); return [] }
            return list.compactMap { item in
                guard let m = item.mapping, let label = m["label"]?.string else {
                    problem(item, "report.\(key): each row needs label: and \(staged ? "sft:/dpo:" : "model:")"); return nil
                }
                checkKeys(m, staged ? ["label", "sft", "dpo"] : ["label", "model"], "report.\(key)")
                return StudyFile.ReportSpec.Row(label: label, sft: m["sft"]?.string, dpo: m["dpo"]?.string, model: m["model"]?.string)
            }
        }
        r.table1 = rows("table1", staged: true)
        r.table2 = rows("table2", staged: false)
        r.languageMerges = rows("languages", staged: false)
        r.ablation = map["ablation"]?.string
        file.report = r
        file.lines["report"] = node.mark?.line ?? 0
    }
}

extension StudyFile {
    /// The trainer's `--config` YAML for a run.
    static func settingsYAML(_ s: [(String, String)], objective: Objective, model: String, data: String, out: String) -> String {
        var lines = ["objective: \(objective.rawValue)", "model: \(quoted(model))", "data: \(quoted(data))", "out: \(quoted(out))"]
        lines += s.map { "\($0.0): \($0.1)" }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
