import Foundation

/// The README.md written next to a merge: YAML front matter Hugging Face understands
/// (`base_model`, `tags: [merge, mixmerge]`) and the configuration that made it.
enum ModelCard {
    static func markdown(_ plan: MergePlan, name: String) -> String {
        let refs = plan.models.map(\.reference.description)
        let hubLike = refs.filter { $0.split(separator: "/").count == 2 && !$0.hasPrefix(".") && !$0.hasPrefix("/") }
        let baseList = hubLike.isEmpty ? refs : hubLike
        var s = "---\nbase_model:\n"
        for r in baseList { s += "- \(yamlQuoted(r))\n" }
        s += "library_name: transformers\ntags:\n- merge\n- mixmerge\n---\n\n"
        s += "# \(name)\n\nThis model was made with mixmerge \(mixmergeVersion) using the **\(plan.method.name)** merge method.\n\n"
        s += "## Models\n\n"
        if let base = plan.config.baseModel { s += "- base: `\(base)`\n" }
        for r in refs where r != plan.config.baseModel?.path { s += "- `\(r)`\n" }
        s += "\n## Configuration\n\n```yaml\n\(plan.config.sourceText.trimmingCharacters(in: .newlines))\n```\n"
        return s
    }

    static func yamlQuoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
