import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks of the paths the supervisor will create things at, once the whole file is read:
/// socket paths short enough for `sun_path`, no file in the way of a socket, a log folder that
/// can hold files.
extension FleetFileReader {
    /// Worker control sockets are `run_dir/TENANT.GENERATION.sock`; room is kept for a
    /// generation of this many digits (the supervisor counts spawns across the fleet).
    static let generationDigits = 10

    func checkPaths(_ supervisor: SupervisorSettings, tenants: [TenantConfig], supervisorItem: ConfigItem) {
        let f = supervisorFields
        let limit = Self.maxSocketPathBytes
        // The control socket: its length (when it is the default: a given one was checked as
        // it was read), and what is at its path already.
        let controlItem = f?["control_socket"] ?? supervisorItem
        let control = supervisor.controlSocket
        if f?["control_socket"] == nil, control.utf8.count > limit {
            error(controlItem, "the default control socket '\(control)' is \(control.utf8.count) bytes long; "
                + "Unix socket paths are limited to \(limit) bytes: set a shorter supervisor.control_socket")
        }
        if checksFileSystem, case .other(let kind) = UnixSocketFile.occupant(of: control) {
            error(controlItem, "control_socket '\(control)' exists and is \(kind), not a socket; "
                + "the supervisor would have to replace it (remove it or choose another path)")
        }
        // Worker sockets: the longest tenant name decides.
        if let longest = tenants.max(by: { $0.name.utf8.count < $1.name.utf8.count }) {
            let example = "\(supervisor.runDir)/\(longest.name).\(String(repeating: "9", count: Self.generationDigits)).sock"
            if example.utf8.count > limit {
                error(f?["run_dir"] ?? supervisorItem,
                      "run_dir '\(supervisor.runDir)' is too long for worker control sockets: tenant '\(longest.name)' needs "
                        + "\(example.utf8.count) bytes (run_dir/\(longest.name).GENERATION.sock, room kept for "
                        + "\(Self.generationDigits) digits); Unix socket paths are limited to \(limit) bytes")
            }
        }
        if checksFileSystem, let logDir = supervisor.logDir, let problem = Self.writableFolderProblem(logDir) {
            error(f?["log_dir"] ?? supervisorItem, "log_dir '\(logDir)' \(problem)")
        }
    }

    /// Why files cannot be created in the folder at `path` (made if missing), or nil.
    static func writableFolderProblem(_ path: String) -> String? {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                return "is \(UnixSocketFile.kindName(st.st_mode & S_IFMT)), not a folder"
            }
            if let problem = pseudoFileSystemProblem(path) { return problem }
            guard access(path, W_OK | X_OK) == 0 else { return "is not writable by this user" }
            return nil
        }
        // Missing: it will be created in its nearest existing ancestor.
        var ancestor = (path as NSString).deletingLastPathComponent
        while !ancestor.isEmpty, ancestor != "/", stat(ancestor, &st) != 0 {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        if ancestor.isEmpty { ancestor = "/" }
        guard stat(ancestor, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            return "cannot be created: '\(ancestor)' is not a folder"
        }
        if let problem = pseudoFileSystemProblem(ancestor) { return "cannot be created: '\(ancestor)' \(problem)" }
        guard access(ancestor, W_OK | X_OK) == 0 else { return "cannot be created: '\(ancestor)' is not writable by this user" }
        return nil
    }

    /// `/proc`, `/sys` and friends accept no log files (even from root, whom `access` lets
    /// through): the file system type of the mount holding `path`, from `/proc/self/mounts`.
    private static func pseudoFileSystemProblem(_ path: String) -> String? {
        #if os(Linux)
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        let resolved = (path as NSString).resolvingSymlinksInPath
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = fields[1].replacingOccurrences(of: "\\040", with: " ")
            let inside = point == "/" || resolved == point || resolved.hasPrefix(point + "/")
            if inside, point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        let pseudo: Set<String> = [
            "proc", "sysfs", "devpts", "debugfs", "securityfs", "cgroup", "cgroup2", "bpf", "tracefs", "configfs",
            "fusectl", "pstore", "efivarfs", "binfmt_misc", "mqueue", "hugetlbfs",
        ]
        if let type = best?.type, pseudo.contains(type) { return "is on a \(type) file system, which holds no log files" }
        #endif
        return nil
    }
}
