import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotated OAuth refresh tokens of one tenant, kept across restarts in
/// `<state_dir>/<tenant>/credentials.json` (folder 0700, file 0600, replaced atomically):
///
/// ```json
/// {"version": 1, "tokens": {"licensed": {
///     "configured_sha256": "<SHA-256 of the refresh token in the fleet file>",
///     "refresh_token": "<the current, rotated one>", "updated_at": "2026-01-02T03:04:05Z"}}}
/// ```
///
/// Entries are keyed by the token's name, never by a secret. A saved token is used only while
/// the fleet file still holds the value it was rotated from (`configured_sha256`): a user who
/// puts a new refresh token into the file wins over the saved one. Writers (this worker, and
/// the one replacing it) serialize on `credentials.lock` with `flock`.
final class CredentialStore: Sendable {
    let directory: String
    var file: String { directory + "/credentials.json" }
    private var lockFile: String { directory + "/credentials.lock" }

    struct Entry: Codable, Equatable, Sendable {
        var configuredSHA256: String
        var refreshToken: String
        var updatedAt: Date

        enum CodingKeys: String, CodingKey {
            case configuredSHA256 = "configured_sha256"
            case refreshToken = "refresh_token"
            case updatedAt = "updated_at"
        }
    }

    struct Document: Codable, Equatable, Sendable {
        var version = 1
        var tokens: [String: Entry] = [:]
    }

    /// Why the store could not be read or written. Never carries a secret.
    struct StoreError: Error, CustomStringConvertible {
        var description: String
    }

    /// `stateDir` is the fleet's state folder; this tenant's folder is created inside it.
    init(stateDir: String, tenant: String) {
        directory = ConfigPaths.resolve(tenant, against: ConfigPaths.absolute(stateDir))
    }

    // MARK: - Reading

    /// The refresh token to use for the token `name` whose fleet-file value is `configured`:
    /// the saved one when it was rotated from exactly that value (under this name, or under
    /// another name if the token was renamed), else nil (use the configured value).
    func refreshToken(name: String, configured: String) throws -> String? {
        let document = try load()
        let digest = SHA256.hex(configured)
        if let entry = document.tokens[name], entry.configuredSHA256 == digest { return entry.refreshToken }
        return document.tokens.sorted { $0.key < $1.key }.first { $0.value.configuredSHA256 == digest }?.value.refreshToken
    }

    /// The whole document; empty when there is no file yet.
    func load() throws -> Document {
        guard FileManager.default.fileExists(atPath: file) else { return Document() }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StoreError(description: "\(file) cannot be read")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Document.self, from: data)
        } catch {
            throw StoreError(description: "\(file) is not a credentials file (\(type(of: error)))")
        }
    }

    // MARK: - Writing

    /// Saves `refreshToken` as the current one for `name`, rotated from the fleet-file value
    /// `configured`. Durable when it returns: written to a temporary file, synced, renamed.
    func save(name: String, configured: String, refreshToken: String, now: Date = Date()) throws {
        try ensureDirectory()
        try withFileLock {
            var document = (try? load()) ?? Document()
            document.tokens[name] = Entry(
                configuredSHA256: SHA256.hex(configured), refreshToken: refreshToken, updatedAt: now)
            try write(document)
        }
    }

    private func ensureDirectory() throws {
        let parent = ConfigPaths.directory(of: directory)
        for folder in [parent, directory] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw StoreError(description: "\(folder) is not a folder") }
                continue
            }
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError(description: "cannot create \(folder): \(error.localizedDescription)")
            }
        }
        // The tenant's folder is ours: only this user may look inside.
        if chmod(directory, 0o700) != 0 {
            throw StoreError(description: "cannot set the mode of \(directory): \(String(cString: strerror(errno)))")
        }
    }

    private func withFileLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError(description: "cannot open \(lockFile): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StoreError(description: "cannot lock \(lockFile): \(String(cString: strerror(errno)))") }
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try body()
    }

    private func write(_ document: Document) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(document)
        let temporary = "\(file).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func failure(_ what: String) -> StoreError {
            StoreError(description: "cannot \(what) \(temporary): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create") }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        do {
            guard fchmod(fd, 0o600) == 0 else { throw failure("set the mode of") }
            try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < buffer.count {
                    let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failure("write")
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw failure("sync") }
            closed = true
            guard close(fd) == 0 else { throw failure("close") }
            guard rename(temporary, file) == 0 else { throw failure("rename") }
        } catch {
            unlink(temporary)
            throw error
        }
        // The rename itself is durable once the folder is synced.
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
