import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// Folders the supervisor creates (`run_dir`, `log_dir`) get their mode set explicitly, not
/// whatever the umask leaves (a umask of 000 would make them world-writable).
enum PrivateDirectory {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Creates `path` and any missing parents with `mode` (set with chmod, so the umask does
    /// not widen or narrow it). A folder that exists already is left as it is.
    static func make(_ path: String, mode: mode_t) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw Failure(description: "\(escapingControlCharacters(path)) exists and is not a folder")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try make(parent, mode: mode) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw Failure(description: "cannot create \(escapingControlCharacters(path)): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode) == 0 else {
            throw Failure(description: "cannot set the mode of \(escapingControlCharacters(path)): \(String(cString: strerror(errno)))")
        }
    }
}
