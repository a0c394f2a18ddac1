import Foundation

/// Combines Prometheus text expositions (format 0.0.4) into one: the supervisor's own and each
/// worker's, every worker sample labelled with its tenant. A family that several sources have
/// is written once — one `# HELP`/`# TYPE` and all its samples together — as the format asks.
/// Pure text in, text out.
enum Exposition {
    struct Family: Equatable {
        var name: String
        var help: String?
        var type: String?
        var samples: [String] = []
    }

    /// The families of one exposition, in order. A sample belongs to the family of the
    /// `# TYPE` before it when its name is that family's (or a histogram/summary part of it);
    /// otherwise it is a family of its own (untyped).
    static func parse(_ text: String) -> [Family] {
        var families: [Family] = []
        var index: [String: Int] = [:]
        var current: String?
        func family(_ name: String) -> Int {
            if let i = index[name] { return i }
            families.append(Family(name: name))
            index[name] = families.count - 1
            return families.count - 1
        }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = String(parts[2])
                let rest = parts.count > 3 ? String(parts[3]) : ""
                let i = family(name)
                if parts[1] == "HELP" { families[i].help = rest } else { families[i].type = rest }
                current = name
                continue
            }
            let name = sampleName(line)
            if let current, name == current || belongs(name, to: current) {
                families[index[current]!].samples.append(line)
            } else {
                families[family(name)].samples.append(line)
            }
        }
        return families
    }

    private static func belongs(_ sample: String, to family: String) -> Bool {
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] where sample == family + suffix {
            return true
        }
        return false
    }

    static func sampleName(_ line: String) -> String {
        String(line.prefix { $0 != "{" && $0 != " " && $0 != "\t" })
    }

    /// `line` with `label="value"` set: replaced when the sample has that label, else added first.
    static func setting(_ label: String, to value: String, in line: String) -> String {
        let name = sampleName(line)
        let afterName = line.dropFirst(name.count)
        let escaped = escape(value)
        guard afterName.first == "{" else {
            return name + "{\(label)=\"\(escaped)\"}" + afterName
        }
        // Walk the label set, honouring quotes and escapes, to find where it ends and whether
        // the label is already there.
        var pairs: [(String, String)] = []
        var i = afterName.index(after: afterName.startIndex)
        var end: Substring.Index?
        while i < afterName.endIndex {
            while i < afterName.endIndex, afterName[i] == "," || afterName[i] == " " { i = afterName.index(after: i) }
            guard i < afterName.endIndex else { break }
            if afterName[i] == "}" { end = i; break }
            let keyStart = i
            while i < afterName.endIndex, afterName[i] != "=" { i = afterName.index(after: i) }
            guard i < afterName.endIndex else { break }
            let key = afterName[keyStart..<i].trimmingCharacters(in: .whitespaces)
            i = afterName.index(after: i)  // '='
            guard i < afterName.endIndex, afterName[i] == "\"" else { break }
            i = afterName.index(after: i)
            var raw = ""
            while i < afterName.endIndex, afterName[i] != "\"" {
                if afterName[i] == "\\" {
                    raw.append(afterName[i])
                    i = afterName.index(after: i)
                    guard i < afterName.endIndex else { break }
                }
                raw.append(afterName[i])
                i = afterName.index(after: i)
            }
            guard i < afterName.endIndex else { break }
            i = afterName.index(after: i)  // closing quote
            pairs.append((key, raw))
        }
        guard let end else { return line }  // not a sample we understand: leave it as it is
        if let k = pairs.firstIndex(where: { $0.0 == label }) {
            pairs[k].1 = escaped
        } else {
            pairs.insert((label, escaped), at: 0)
        }
        let labels = pairs.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",")
        return name + "{" + labels + "}" + afterName[afterName.index(after: end)...]
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    /// The supervisor's own exposition plus each worker's with its `tenant` label set, merged
    /// by family (first seen first).
    static func merge(own: String, workers: [(tenant: String, text: String)]) -> String {
        var merged: [Family] = []
        var index: [String: Int] = [:]
        func add(_ family: Family) {
            if let i = index[family.name] {
                if merged[i].help == nil { merged[i].help = family.help }
                if merged[i].type == nil { merged[i].type = family.type }
                merged[i].samples += family.samples
            } else {
                index[family.name] = merged.count
                merged.append(family)
            }
        }
        for family in parse(own) { add(family) }
        for (tenant, text) in workers {
            for var family in parse(text) {
                family.samples = family.samples.map { setting("tenant", to: tenant, in: $0) }
                add(family)
            }
        }
        var out = ""
        for family in merged.sorted(by: { $0.name < $1.name }) {
            if let help = family.help { out += "# HELP \(family.name) \(help)\n" }
            if let type = family.type { out += "# TYPE \(family.name) \(type)\n" }
            for sample in family.samples { out += sample + "\n" }
        }
        return out
    }
}
