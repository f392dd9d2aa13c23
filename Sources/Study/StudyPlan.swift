import Crypto
import Foundation
import Yams

/// One unit of a study's work. Its `hash` covers everything its result depends on (settings and
/// the hashes of its inputs), so a step whose hash is recorded as done is not run again.
public struct Step: Sendable {
    public enum Kind: Sendable {
        case mix
        case train(StudyFile.TrainRun)
        /// A merge, or one member of a weight sweep (`w`).
        case merge(StudyFile.MergeSpec, w: Double?)
        /// Picks a sweep's member on the validation prompts.
        case select(StudyFile.MergeSpec)
        case generate(candidate: String, split: Split)
        case judge(candidate: String, split: Split)
        case report
    }

    public enum Split: String, Sendable, CaseIterable { case validation, test }

    public var id: String
    public var kind: Kind
    public var deps: [String]
    public var hash = ""
    /// The study name this step makes (a model, a sweep) or evaluates.
    public var subject: String
}

/// The study as a dependency graph of steps, checked as a whole before anything runs.
public struct StudyPlan: Sendable {
    public var file: StudyFile
    public var steps: [Step] = []
    public var index: [String: Int] = [:]
    /// Where each study model comes from: an outside folder or endpoint, or the step that makes it.
    public var sources: [String: ModelSource] = [:]
    /// Models evaluated on each split.
    public var candidates: [Step.Split: [String]] = [:]
    /// Architecture of every model (from config.json, inherited through training and merging).
    public var architectures: [String: String] = [:]
    /// What each split's generations depend on besides the model (its run store is named by it).
    public var evaluationHashes: [Step.Split: String] = [:]

    public enum ModelSource: Sendable, Equatable {
        case folder(URL)
        case endpoint(url: String, model: String, keyEnv: String?)
        /// The output of a train or merge step.
        case step(String)
        /// The member a select step picks.
        case selected(String)
    }

    public func step(_ id: String) -> Step? { index[id].map { steps[$0] } }

    /// Builds and checks the plan; every problem is one line, `file:line: message`.
    public static func make(_ file: StudyFile, environment: [String: String] = ProcessInfo.processInfo.environment,
                            hashes: FileHashes) throws -> StudyPlan {
        var plan = StudyPlan(file: file)
        var problems: [String] = []
        func problem(_ line: Int, _ message: String) { problems.append("\(file.fileName):\(line): \(message)") }

        // Names → sources.
        for (name, m) in file.models {
            switch m {
            case .folder(let url): plan.sources[name] = .folder(url)
            case .endpoint(let url, let model, let keyEnv): plan.sources[name] = .endpoint(url: url, model: model, keyEnv: keyEnv)
            }
        }
        for r in file.runs { plan.sources[r.name] = .step("train \(r.name)") }
        for m in file.merges {
            if let sweep = m.sweep {
                for w in sweep { plan.sources[m.memberName(w)] = .step("merge \(m.memberName(w))") }
                plan.sources[m.name] = .selected("select \(m.name)")
            } else {
                plan.sources[m.name] = .step("merge \(m.name)")
            }
        }
        let known = plan.sources.keys.sorted()
        func check(_ name: String, line: Int, _ what: String, trainable: Bool = true) -> Bool {
            guard let s = plan.sources[name] else {
                problem(line, "\(what): unknown model '\(name)' (known: \(known.joined(separator: ", ")); declare an outside folder under models:)")
                return false
            }
            if trainable, case .endpoint = s {
                problem(line, "\(what): '\(name)' is an endpoint; only model folders can be trained or merged")
                return false
            }
            return true
        }

        // Model dependencies, for cycles and architectures.
        var modelDeps: [String: [String]] = [:]
        for r in file.runs {
            var d = [r.from]
            if let ref = r.refModel { d.append(ref) }
            if r.objective == .sft, r.refModel != nil { problem(r.line, "train.\(r.name): ref_model: is for dpo runs") }
            modelDeps[r.name] = d.filter { check($0, line: r.line, "train.\(r.name)") }
        }
        for m in file.merges {
            if m.inputs.isEmpty { problem(m.line, "merge.\(m.name): the config names no models") }
            let d = m.inputs.filter { check($0, line: m.line, "merge.\(m.name)") }
            for member in m.members { modelDeps[member] = d }
            if m.sweep != nil { modelDeps[m.name] = m.members }
        }
        if let cycle = findCycle(modelDeps) {
            problem(file.lines[cycle[0]] ?? 0, "a cycle: \(cycle.joined(separator: " → ")) (a model cannot be made from itself)")
        }

        // Architectures.
        var archProblems = Set<String>()
        func architecture(_ name: String, _ seen: Set<String> = []) -> String? {
            if let a = plan.architectures[name] { return a }
            guard !seen.contains(name), let s = plan.sources[name] else { return nil }
            var a: String?
            switch s {
            case .folder(let url): a = readArchitecture(url)
            case .endpoint: return nil
            case .step, .selected:
                let inputs = modelDeps[name] ?? []
                let archs = inputs.compactMap { architecture($0, seen.union([name])) }
                let distinct = Array(Set(archs)).sorted()
                if distinct.count > 1 {
                    let merge = name.split(separator: "@").first.map(String.init) ?? name
                    if archProblems.insert(merge).inserted {
                        let detail = inputs.compactMap { i in plan.architectures[i].map { "\(i) is \($0)" } }.joined(separator: ", ")
                        problem(file.lines[merge] ?? 0, "merge.\(merge): models of different architectures cannot be merged (\(detail))")
                    }
                }
                if let r = file.runs.first(where: { $0.name == name }) { a = architecture(r.from, seen.union([name])) } else { a = distinct.first }
            }
            if let a { plan.architectures[name] = a }
            return a
        }
        for name in known { _ = architecture(name) }

        // Training and merging steps.
        if file.mix != nil { plan.add(Step(id: "mix", kind: .mix, deps: [], subject: "mix")) }
        for r in file.runs {
            var deps = [r.from, r.refModel].compactMap { $0 }.compactMap { plan.producer($0) }
            if case .mixture = r.data { deps.append("mix") }
            plan.add(Step(id: "train \(r.name)", kind: .train(r), deps: deps, subject: r.name))
        }
        for m in file.merges {
            let deps = m.inputs.compactMap { plan.producer($0) }
            if let sweep = m.sweep {
                for w in sweep { plan.add(Step(id: "merge \(m.memberName(w))", kind: .merge(m, w: w), deps: deps, subject: m.memberName(w))) }
            } else {
                plan.add(Step(id: "merge \(m.name)", kind: .merge(m, w: nil), deps: deps, subject: m.name))
            }
        }

        // Evaluation.
        let sweeps = file.merges.filter { $0.sweep != nil }
        if let e = file.evaluation {
            if e.sets.isEmpty { problem(file.lines["evaluate"] ?? 0, "evaluate.prompts: no prompt sets") }
            if !e.reference.isEmpty { _ = check(e.reference, line: e.referenceLine, "evaluate.reference", trainable: false) }
            if case .endpoint(_, let keyEnv) = e.judge {
                if let keyEnv {
                    if (environment[keyEnv] ?? "").isEmpty && hashes.lenient {
                        plan.file.warnings.append("\(file.fileName):\(e.judgeLine): evaluate.judge: the key variable \(keyEnv) is not set")
                    } else if (environment[keyEnv] ?? "").isEmpty {
                        problem(e.judgeLine, "evaluate.judge: the key variable \(keyEnv) is not set (export \(keyEnv)=… before running)")
                    }
                } else if !isLoopback(e.judge.identity) {
                    problem(e.judgeLine, "evaluate.judge: a remote judge needs key_env: (the environment variable holding its API key)")
                }
            }
            for s in e.sets {
                if let v = s.validation {
                    if v == s.test || (try? hashes.file(v)) == (try? hashes.file(s.test)) {
                        problem(s.line, "evaluate.prompts.\(s.name): validation and test are the same prompts; a weight search scored on "
                            + "them would be tuned on the test prompts")
                    } else if let shared = overlap(v, s.test), shared > 0 {
                        problem(s.line, "evaluate.prompts.\(s.name): \(shared) validation prompts also appear in the test prompts; "
                            + "a weight search would be tuned on test prompts")
                    }
                }
            }
            if !sweeps.isEmpty {
                let withValidation = e.sets.filter { $0.validation != nil }
                if !withValidation.contains(where: { $0.kind == .harm }) || !withValidation.contains(where: { $0.kind == .general }) {
                    problem(sweeps[0].line, "merge.\(sweeps[0].name): a weight search needs validation prompts of both kinds "
                        + "(evaluate.prompts.*.validation); it is never scored on the test prompts")
                }
            }
            var test: [String] = [e.reference]
            for n in file.report.models + e.candidates where !test.contains(n) {
                if check(n, line: file.lines["report"] ?? e.referenceLine, "report/candidates", trainable: false) { test.append(n) }
            }
            if let a = file.report.ablation {
                if let m = file.merges.first(where: { $0.name == a }), m.sweep != nil {
                    for member in m.members where !test.contains(member) { test.append(member) }
                } else { problem(file.lines["report"] ?? 0, "report.ablation: '\(a)' is not a merge with a sweep:") }
            }
            var validation: [String] = [e.reference]
            for m in sweeps { validation += m.members }
            plan.candidates = [.test: test.filter { !$0.isEmpty }, .validation: sweeps.isEmpty ? [] : validation]
            for split in Step.Split.allCases {
                for c in plan.candidates[split] ?? [] {
                    var deps = [plan.producer(c)].compactMap { $0 }
                    plan.add(Step(id: "generate \(c) \(split)", kind: .generate(candidate: c, split: split), deps: deps, subject: c))
                    deps = ["generate \(c) \(split)"]
                    if c != e.reference { deps.append("generate \(e.reference) \(split)") }
                    plan.add(Step(id: "judge \(c) \(split)", kind: .judge(candidate: c, split: split), deps: deps, subject: c))
                }
            }
            for m in sweeps {
                let deps = (m.members + [e.reference]).map { "judge \($0) validation" }
                plan.add(Step(id: "select \(m.name)", kind: .select(m), deps: deps, subject: m.name))
            }
            plan.add(Step(id: "report", kind: .report, deps: (plan.candidates[.test] ?? []).map { "judge \($0) test" }, subject: "report"))
        } else {
            for m in sweeps { problem(m.line, "merge.\(m.name): a sweep needs evaluate: (its weight is picked on validation prompts)") }
        }
        if !problems.isEmpty { throw StudyError(problems) }
        try plan.computeHashes(hashes)
        return plan
    }

    mutating func add(_ s: Step) {
        index[s.id] = steps.count
        steps.append(s)
    }

    /// The step that makes a model (nil for outside models).
    func producer(_ name: String) -> String? {
        switch sources[name] {
        case .step(let id)?: id
        case .selected(let id)?: id
        default: nil
        }
    }

    static func readArchitecture(_ folder: URL) -> String? {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("config.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let arch = (obj["architectures"] as? [String])?.first ?? obj["model_type"] as? String ?? "?"
        // Same class is not enough to merge: the shapes must agree too (Aya 23 8B vs 35B).
        let text = obj["text_config"] as? [String: Any] ?? obj
        let shape = ["hidden_size", "num_hidden_layers", "vocab_size"].compactMap { k in (text[k] as? Int).map { "\(k)=\($0)" } }
        return shape.isEmpty ? arch : "\(arch) (\(shape.joined(separator: ", ")))"
    }

    static func findCycle(_ deps: [String: [String]]) -> [String]? {
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var stack: [String] = []
        func visit(_ n: String) -> [String]? {
            if state[n] == 2 { return nil }
            if state[n] == 1 {
                let start = stack.firstIndex(of: n) ?? 0
                return Array(stack[start...]) + [n]
            }
            state[n] = 1
            stack.append(n)
            for d in deps[n] ?? [] { if let c = visit(d) { return c } }
            stack.removeLast()
            state[n] = 2
            return nil
        }
        for n in deps.keys.sorted() { if let c = visit(n) { return c } }
        return nil
    }

    static func isLoopback(_ spec: String) -> Bool {
        spec.contains("://127.0.0.1") || spec.contains("://localhost") || spec.contains("://[::1]")
    }

    /// Prompts (normalised text of every line's `prompt`/`inputs`) that two files share.
    static func overlap(_ a: URL, _ b: URL) -> Int? {
        func prompts(_ u: URL) -> Set<String>? {
            guard let text = try? String(contentsOf: u, encoding: .utf8) else { return nil }
            var out = Set<String>()
            for line in text.split(separator: "\n") {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                if let p = (obj["prompt"] ?? obj["inputs"] ?? obj["instruction"]) as? String {
                    out.insert(p.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " "))
                }
            }
            return out
        }
        guard let x = prompts(a), let y = prompts(b) else { return nil }
        return x.intersection(y).count
    }

    // MARK: hashes

    mutating func computeHashes(_ hashes: FileHashes) throws {
        let order = try topologicalOrder()
        for split in Step.Split.allCases { evaluationHashes[split] = try evaluationHash(split, hashes) }
        var modelHash: [String: String] = [:]
        func hashOf(model name: String) throws -> String {
            if let h = modelHash[name] { return h }
            switch sources[name] {
            case .folder(let url)?: modelHash[name] = try hashes.folder(url)
            case .endpoint(let url, let model, _)?: modelHash[name] = sha("endpoint", url, model)
            case .step(let id)?, .selected(let id)?: modelHash[name] = steps[index[id]!].hash
            case nil: throw StudyError("internal: unknown model \(name)")
            }
            return modelHash[name]!
        }
        for i in order {
            var s = steps[i]
            var parts: [String] = ["v1", s.id]
            switch s.kind {
            case .mix:
                switch file.mix {
                case .file(let url)?: parts += [try hashes.file(url)] + (try hashes.mixSources(url))
                case .inline(let text)?: parts += [text] + (try hashes.mixSources(text: text, base: file.directory))
                case nil: break
                }
            case .train(let r):
                parts += [r.objective.rawValue, "\(r.engine)", r.settings.map { "\($0.0)=\($0.1)" }.joined(separator: "\n"), try hashOf(model: r.from)]
                if let ref = r.refModel { parts.append(try hashOf(model: ref)) }
                switch r.data {
                case .mixture(let name): parts += [steps[index["mix"]!].hash, name]
                case .file(let url): parts.append(try hashes.file(url))
                }
            case .merge(let m, let w):
                let draws = ["dare", "della", "breadcrumbs"].contains { m.configText.contains($0) }
                parts += ["\(m.engine)", m.configText, w.map { StudyFile.format($0) } ?? "", draws ? "\(file.seed)" : ""]
                for input in m.inputs { parts.append(try hashOf(model: input)) }
            case .select:
                parts += s.deps.map { steps[index[$0]!].hash } + [file.evaluation?.score.rawValue ?? ""]
            case .generate(let c, let split):
                parts += [try hashOf(model: c), evaluationHashes[split] ?? ""]
            case .judge:
                parts += s.deps.map { steps[index[$0]!].hash } + [file.evaluation?.judge.identity ?? ""]
            case .report:
                let r = file.report
                let rows = (r.table1 + r.table2 + r.languageMerges).map { "\($0.label)|\($0.sft ?? "")|\($0.dpo ?? "")|\($0.model ?? "")" }
                parts += s.deps.map { steps[index[$0]!].hash } + [r.title, r.baselineSFT ?? "", r.baselineDPO ?? "", r.ablation ?? "",
                                                                  "\(file.evaluation?.replicates ?? 0)", "\(file.seed)", "report-v2"] + rows
            }
            s.hash = sha(parts)
            steps[i] = s
        }
    }

    /// What every generation of a split depends on besides the model: its prompt files, the
    /// sampling settings and the engine (one run store per value; a new judge replaces the
    /// judgments, not the answers).
    func evaluationHash(_ split: Step.Split, _ hashes: FileHashes) throws -> String {
        guard let e = file.evaluation else { return "" }
        var parts = [split.rawValue, e.perLanguage.map { "per-language \($0)" } ?? "", e.sampling.map { "\($0.0)=\($0.1)" }.joined(separator: ","), "\(e.generation)"]
        for s in e.sets {
            guard let url = s.file(split) else { continue }
            parts += [s.name, s.kind.rawValue, s.format, try hashes.file(url)]
        }
        return sha(parts)
    }

    /// Step indices with every step after its dependencies.
    public func topologicalOrder() throws -> [Int] {
        var done = Set<Int>(), visiting = Set<Int>(), out: [Int] = []
        func visit(_ i: Int) throws {
            if done.contains(i) { return }
            if visiting.contains(i) { throw StudyError("\(file.fileName): the steps form a cycle at '\(steps[i].id)'") }
            visiting.insert(i)
            for d in steps[i].deps { if let j = index[d] { try visit(j) } }
            visiting.remove(i)
            done.insert(i)
            out.append(i)
        }
        for i in steps.indices { try visit(i) }
        return out
    }

    /// The steps needed for `names` (a model, a sweep, `report`, or a step id) and all they depend on.
    public func closure(_ names: [String]) throws -> Set<String> {
        var out = Set<String>()
        var queue: [String] = []
        for n in names {
            let ids = steps.filter { s in
                if s.id == n { return true }
                switch s.kind {
                case .train, .merge, .select: return s.subject == n || s.subject.hasPrefix(n + "@")
                default: return false
                }
            }
            guard !ids.isEmpty else { throw StudyError("--only: no step or model '\(n)' in \(file.fileName)") }
            queue += ids.map(\.id)
        }
        while let id = queue.popLast() {
            guard out.insert(id).inserted, let s = step(id) else { continue }
            queue += s.deps
        }
        return out
    }
}

func sha(_ parts: String...) -> String { sha(parts) }

func sha(_ parts: [String]) -> String {
    var h = SHA256()
    for p in parts {
        h.update(data: Data(p.utf8))
        h.update(data: Data([0]))
    }
    return h.finalize().map { String(format: "%02x", $0) }.joined()
}
