import Evaluation
import Foundation
import Judging

/// The numbers of one model on the test prompts: harmful-rate change vs the reference (%) and
/// win-rate vs the reference (%, ties ½), each with its 95 % interval, overall and per language.
struct ModelNumbers: Codable {
    var harmRate: Interval?
    var harmChange: Interval?
    var win: Interval?
    var languages: [String: LanguageNumbers] = [:]

    struct LanguageNumbers: Codable {
        var harmChange: Interval?
        var win: Interval?
    }
}

extension StudyRunner {
    /// The lineage of every study model: where it came from, with data manifest hashes.
    func lineage() throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        let hashes = self.hashes
        for (name, source) in plan.sources.sorted(by: { $0.key < $1.key }) {
            var e: [String: Any] = ["name": name]
            switch source {
            case .folder(let url):
                e["kind"] = "model"
                e["path"] = url.path
                if let h = try? hashes.folder(url) { e["sha256"] = h }
            case .endpoint(let url, let model, _):
                e["kind"] = "endpoint"
                e["url"] = url
                e["model"] = model
            case .step(let id):
                let s = plan.step(id)!
                e["step"] = id
                e["hash"] = s.hash
                e["path"] = folder(s).path
                switch s.kind {
                case .train(let r):
                    e["kind"] = "train"
                    e["objective"] = r.objective.rawValue
                    e["from"] = r.from
                    if let ref = r.refModel { e["ref_model"] = ref }
                    e["engine"] = "\(r.engine)"
                    e["settings"] = Dictionary(r.settings, uniquingKeysWith: { $1 })
                    switch r.data {
                    case .mixture(let m):
                        var d: [String: Any] = ["mixture": m]
                        if let mix = mixFolder {
                            let manifest = mix.appendingPathComponent(m).appendingPathComponent("manifest.json")
                            if let h = try? hashes.file(manifest) { d["manifest_sha256"] = h }
                            d["file"] = try dataPath(r)
                        }
                        e["data"] = d
                    case .file(let url):
                        e["data"] = ["file": url.path, "sha256": (try? hashes.file(url)) ?? ""]
                    }
                case .merge(let m, let w):
                    e["kind"] = "merge"
                    e["merge"] = m.name
                    e["method"] = m.config.mapping?["merge_method"]?.string ?? ""
                    e["inputs"] = m.inputs
                    if let w { e["w"] = w }
                default: break
                }
            case .selected(let id):
                let s = plan.step(id)!
                e["kind"] = "select"
                e["step"] = id
                if let sel = try? Selection.read(folder(s).appendingPathExtension("json")) {
                    e["selected"] = sel.selected
                    e["w"] = sel.w
                    e["on"] = sel.on
                    e["score"] = sel.score
                }
            }
            out.append(e)
        }
        return out
    }

    func writeLineage() throws {
        let data = try JSONSerialization.data(withJSONObject: try lineage(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try Self.writeAtomically(data, to: out.appendingPathComponent("lineage.json"))
    }

    /// `OUT/models/NAME` → the step folder that holds the model (for the models made so far).
    func linkModels() throws {
        let models = out.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        for (name, source) in plan.sources {
            var target: URL?
            switch source {
            case .step(let id): target = plan.step(id).map(folder)
            case .selected: target = try? path(of: name)  // a sweep: its pick
            default: break
            }
            guard let target, FileManager.default.fileExists(atPath: target.path) else { continue }
            let link = models.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: link)
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "../steps/" + target.lastPathComponent)
        }
    }

    // MARK: the report

    func numbers(_ sets: [Analysis], harmSet: Analysis?, winSet: Analysis?) -> [String: ModelNumbers] {
        var out: [String: ModelNumbers] = [:]
        if let h = harmSet {
            for r in h.harm where r.group == "all" { out[r.candidate, default: .init()].harmRate = r.rate }
            for r in h.harmChange {
                if r.language == "all" { out[r.candidate, default: .init()].harmChange = r.change } else {
                    out[r.candidate, default: .init()].languages[r.language, default: .init()].harmChange = r.change
                }
            }
        }
        if let w = winSet {
            for r in w.wins {
                if r.language == "all" { out[r.candidate, default: .init()].win = r.winRateHalf } else {
                    out[r.candidate, default: .init()].languages[r.language, default: .init()].win = r.winRateHalf
                }
            }
        }
        return out
    }

    func runReport(_ s: Step) throws {
        let run = try openStore(.test)
        let e = evaluation
        var sets: [Analysis] = []
        var harmSet: Analysis?, winSet: Analysis?
        for set in e.sets {
            let a = try Analysis.make(store: run, reference: e.reference, replicates: e.replicates, seed: plan.file.seed, set: Self.setName(set, .test))
            sets.append(a)
            if set.kind == .harm && harmSet == nil { harmSet = a }
            if set.kind == .general && winSet == nil { winSet = a }
        }
        let nums = numbers(sets, harmSet: harmSet, winSet: winSet)
        var selections: [String: Selection] = [:]
        for m in plan.file.merges where m.sweep != nil {
            if let st = plan.step("select \(m.name)"), let sel = try? Selection.read(folder(st).appendingPathExtension("json")) {
                selections[m.name] = sel
            }
        }
        let r = plan.file.report
        let ablation = try ablationPoints(nums)
        let doc = StudyDocument(
            title: r.title, study: plan.file.name, reference: e.reference, numbers: nums, report: r, selections: selections,
            languages: harmSet?.languages.filter { $0 != "all" } ?? winSet?.languages.filter { $0 != "all" } ?? [],
            languageNames: (harmSet?.languageNames ?? [:]).merging(winSet?.languageNames ?? [:]) { a, _ in a },
            harmSetName: harmSet?.promptSet, winSetName: winSet?.promptSet, judge: e.judge.identity, ablation: ablation,
            trainedModels: Set(plan.file.runs.map(\.name)),
            tradeoff: Report.svg(sets.filter { !$0.harm.isEmpty || !$0.wins.isEmpty }.map { Self.only(r.models + [e.reference], $0) }))
        let final = folder(s)
        let temp = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).tmp")
        try? FileManager.default.removeItem(at: temp)
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        func save(_ text: String, _ name: String) throws { try Data(text.utf8).write(to: temp.appendingPathComponent(name)) }
        try save(doc.markdown(), "report.md")
        try save(doc.html(), "report.html")
        try save(doc.csv(), "table1.csv")
        try save(doc.summary() + "\n", "summary.txt")
        if let t = doc.tradeoff { try save(t, "fig5-tradeoff.svg") }
        if let f = doc.ablationSVG() { try save(f, "fig6-weight.svg") }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(nums).write(to: temp.appendingPathComponent("numbers.json"))
        try JSONSerialization.data(withJSONObject: try lineage(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            .write(to: temp.appendingPathComponent("lineage.json"))
        // The full evaluation report (every set, per language and category, with intervals).
        let warnings = try Analysis.warnings(store: run, reference: e.reference)
        try save(Report.markdown(sets, title: "\(r.title): every judged number", warnings: warnings), "evaluation.md")
        try save(Report.html(sets, title: "\(r.title): every judged number", warnings: warnings), "evaluation.html")
        try? FileManager.default.removeItem(at: final)
        guard rename(temp.path, final.path) == 0 else { throw StudyError("\(final.path): cannot write the report") }
        let reportLink = out.appendingPathComponent("report")
        try? FileManager.default.removeItem(at: reportLink)
        try FileManager.default.createSymbolicLink(atPath: reportLink.path, withDestinationPath: "steps/" + final.lastPathComponent)
        summaryText = doc.summary()
    }

    /// An analysis restricted to some candidates (Fig. 5 shows the report's models, not every sweep member).
    static func only(_ names: [String], _ a: Analysis) -> Analysis {
        let keep = Set(names)
        var b = a
        b.candidates = a.candidates.filter { keep.contains($0) }
        b.harm = a.harm.filter { keep.contains($0.candidate) }
        b.harmByCategory = a.harmByCategory.filter { keep.contains($0.candidate) }
        b.harmChange = a.harmChange.filter { keep.contains($0.candidate) }
        b.wins = a.wins.filter { keep.contains($0.candidate) }
        b.paired = a.paired.filter { keep.contains($0.first) && keep.contains($0.second) }
        return b
    }

    func ablationPoints(_ nums: [String: ModelNumbers]) throws -> [(w: Double, harm: Interval?, win: Interval?)] {
        guard let a = plan.file.report.ablation, let m = plan.file.merges.first(where: { $0.name == a }), let sweep = m.sweep else { return [] }
        return sweep.map { w in (w, nums[m.memberName(w)]?.harmChange, nums[m.memberName(w)]?.win) }
    }
}
