import Foundation

/// Lexical path helpers for the fleet file: relative paths resolve against the file's folder.
public enum ConfigPaths {
    /// `path` made absolute against the current directory, with `.` and `..` removed.
    public static func absolute(_ path: String) -> String {
        resolve(path, against: FileManager.default.currentDirectoryPath)
    }

    /// The folder holding `file`, absolute.
    public static func directory(of file: String) -> String {
        let absolutePath = absolute(file)
        guard let slash = absolutePath.lastIndex(of: "/") else { return "/" }
        let folder = String(absolutePath[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// `path` if absolute, else `directory/path`; `~/` expands to `home` when given.
    /// The result is normalized lexically (no `.`, `..` or repeated slashes).
    public static func resolve(_ path: String, against directory: String, home: String? = nil) -> String {
        var path = path
        if let home, path == "~" || path.hasPrefix("~/") {
            path = home + path.dropFirst()
        }
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        var components: [Substring] = []
        for component in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }
}
