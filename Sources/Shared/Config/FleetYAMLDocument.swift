// Composing the fleet file into a Yams `Node` tree that keeps duplicate mapping keys.
//
// Yams 6 refuses a mapping with a repeated key (`YamlError.duplicatedKeysInMapping`) and stops
// there, which would hide every other error in the file. The error carries the position of
// the first of the repeated keys, so we make that occurrence distinct by replacing its first
// character in the text with a private-use character (one character for one, so every line
// and column stays the same), remember the original, and compose again. The loader then sees
// all keys on the Node level, restores their spelling with `keyString(_:)`, and reports each
// duplicate itself.

import Yams

/// A 1-based position in the fleet file.
struct ConfigPosition: Sendable, Equatable {
    var line: Int
    var column: Int

    static let start = ConfigPosition(line: 1, column: 1)
}

struct FleetComposedYAML {
    var root: Node?
    /// Private-use replacement → the original first character of a key.
    var renamedKeyStarts: [Unicode.Scalar: Unicode.Scalar] = [:]

    /// A key's text as written in the file.
    func keyString(_ raw: String) -> String {
        guard let first = raw.unicodeScalars.first, let original = renamedKeyStarts[first] else { return raw }
        var scalars = String.UnicodeScalarView()
        scalars.append(original)
        scalars.append(contentsOf: raw.unicodeScalars.dropFirst())
        return String(scalars)
    }
}

struct FleetYAMLSyntaxProblem: Error {
    var position: ConfigPosition
    var message: String
}

enum FleetYAMLDocument {
    /// At most this many repeated keys are worked around; beyond, the Yams error is reported.
    static let maxRenamedKeys = 256
    private static let firstReplacement: UInt32 = 0xF0000  // Supplementary Private Use Area-A

    static func compose(_ yaml: String) -> Result<FleetComposedYAML, FleetYAMLSyntaxProblem> {
        var text = yaml
        var document = FleetComposedYAML()
        while true {
            do {
                document.root = try Yams.compose(yaml: text)
                return .success(document)
            } catch let error as YamlError {
                if case .duplicatedKeysInMapping(_, let context) = error,
                   document.renamedKeyStarts.count < maxRenamedKeys,
                   let replacement = Unicode.Scalar(firstReplacement + UInt32(document.renamedKeyStarts.count)),
                   let (renamed, original) = replaceKeyStart(
                       in: text, at: ConfigPosition(line: context.mark.line, column: context.mark.column),
                       with: replacement) {
                    text = renamed
                    document.renamedKeyStarts[replacement] = original
                    continue
                }
                return .failure(problem(from: error, yaml: yaml, document: document))
            } catch {
                return .failure(FleetYAMLSyntaxProblem(position: .start, message: "invalid YAML"))
            }
        }
    }

    /// Replaces the first character of the key that starts at `position` (inside the quotes
    /// for a quoted key). Nil when the key is not a simple plain or quoted scalar.
    private static func replaceKeyStart(
        in text: String, at position: ConfigPosition, with replacement: Unicode.Scalar
    ) -> (String, Unicode.Scalar)? {
        var scalars = Array(text.unicodeScalars)
        guard var index = offset(of: position, in: scalars) else { return nil }
        let first = scalars[index]
        if first == "\"" || first == "'" {
            index += 1
            guard index < scalars.count else { return nil }
            let inner = scalars[index]
            if inner == first || inner == "\\" || isLineBreak(inner) { return nil }
        } else if "&!*?[]{}|>%@`#,".unicodeScalars.contains(first) || isLineBreak(first) || first == " " {
            return nil
        }
        let original = scalars[index]
        scalars[index] = replacement
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return (String(view), original)
    }

    /// Index of the character at a libyaml mark: lines end at LF, CR, CRLF, NEL, LS or PS;
    /// columns count characters.
    private static func offset(of position: ConfigPosition, in scalars: [Unicode.Scalar]) -> Int? {
        var line = 1
        var column = 1
        var index = 0
        while index < scalars.count {
            if line == position.line && column == position.column { return index }
            let scalar = scalars[index]
            if isLineBreak(scalar) {
                if scalar == "\r", index + 1 < scalars.count, scalars[index + 1] == "\n" { index += 1 }
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += 1
        }
        return nil
    }

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// A message for a YAML error that never quotes the document (it may hold secrets).
    private static func problem(from error: YamlError, yaml: String, document: FleetComposedYAML) -> FleetYAMLSyntaxProblem {
        func position(_ mark: Mark) -> ConfigPosition { ConfigPosition(line: mark.line, column: mark.column) }
        func detail(_ problem: String, _ context: YamlError.Context?) -> String {
            guard let context, !context.text.isEmpty else { return "invalid YAML: \(problem)" }
            return "invalid YAML: \(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return FleetYAMLSyntaxProblem(position: position(mark), message: detail(problem, context))
        case let .reader(problem, offset, _, _):
            var line = 1
            if let offset {
                line += yaml.utf8.prefix(offset).filter { $0 == 0x0A }.count
            }
            return FleetYAMLSyntaxProblem(
                position: ConfigPosition(line: line, column: 1), message: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\(document.keyString($0))'" }.joined(separator: ", ")
            return FleetYAMLSyntaxProblem(position: position(context.mark), message: "duplicate key \(keys)")
        default:
            return FleetYAMLSyntaxProblem(position: .start, message: "invalid YAML")
        }
    }
}
