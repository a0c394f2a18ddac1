import Foundation
import Testing

@testable import Shared

/// Parses `yaml` and returns the diagnostics (empty when the file is valid).
func configDiagnostics(
    _ yaml: String, environment: [String: String] = [:], path: String = "fleet.yaml",
    sourceLocation: SourceLocation = #_sourceLocation
) -> [ConfigDiagnostic] {
    do {
        _ = try FleetConfigLoader.parse(yaml: yaml, path: path, environment: environment)
        return []
    } catch let error as ConfigError {
        return error.diagnostics
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return []
    }
}

/// Parses `yaml`, recording an issue (with every diagnostic) when it is invalid.
func parsedConfig(
    _ yaml: String, environment: [String: String] = [:], path: String = "fleet.yaml",
    sourceLocation: SourceLocation = #_sourceLocation
) -> FleetConfig? {
    do {
        return try FleetConfigLoader.parse(yaml: yaml, path: path, environment: environment)
    } catch {
        Issue.record("expected a valid file, got:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects exactly one diagnostic, at `keyPath` and `line` (and `column` if given), whose
/// message equals `message` or, when `containing` is used, contains it.
@discardableResult
func expectSingleDiagnostic(
    _ diagnostics: [ConfigDiagnostic], keyPath: String, line: Int, column: Int? = nil,
    message: String? = nil, containing fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigDiagnostic? {
    #expect(diagnostics.count == 1, "diagnostics: \(diagnostics.map(\.description))", sourceLocation: sourceLocation)
    guard let diagnostic = diagnostics.first else { return nil }
    #expect(diagnostic.keyPath == keyPath, "\(diagnostic)", sourceLocation: sourceLocation)
    #expect(diagnostic.line == line, "\(diagnostic)", sourceLocation: sourceLocation)
    if let column {
        #expect(diagnostic.column == column, "\(diagnostic)", sourceLocation: sourceLocation)
    }
    if let message {
        #expect(diagnostic.message == message, sourceLocation: sourceLocation)
    }
    if let fragment {
        #expect(diagnostic.message.contains(fragment), "\(diagnostic)", sourceLocation: sourceLocation)
    }
    return diagnostic
}

/// A fresh temporary folder, removed by `remove()`.
struct ConfigTempDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = ConfigPaths.resolve("fleet-config-tests-\(UUID().uuidString.prefix(8))", against: base)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `relativePath` (creating folders) and returns the absolute path.
    @discardableResult
    func write(_ relativePath: String, _ contents: String) throws -> String {
        let file = path + "/" + relativePath
        let folder = ConfigPaths.directory(of: file)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
