import Foundation
import Testing

@testable import Shared

/// Limits on what a fleet file may ask for, escaping of user strings, fingerprints.
@Suite("Hardening: limits, paths, escaping, fingerprints")
struct HardeningTests {
    static func fleet(supervisor: String = "", tenantSettings: String = "", name: String = "team-a") -> String {
        """
        version: 1
        supervisor:
          listen: 127.0.0.1:0
        \(supervisor)
        tenants:
          \(name):
            listen: 127.0.0.1:0
            api_keys: [key-a]
            tokens: [{name: t, jwt: eyJhbGciOiJIUzI1NiJ9.payload.signature}]
        \(tenantSettings)
        """
    }

    // MARK: - Intervals

    @Test func healthCheckIntervalBelowTheMinimumIsRefusedAtItsPosition() {
        let diagnostics = configDiagnostics(Self.fleet(tenantSettings: "    health_check_interval: 1ms"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.health_check_interval", line: 10, column: 28,
            message: "must be at least 250ms, found '1ms'")
    }

    @Test func supervisorIntervalsHaveFloorsToo() {
        let diagnostics = configDiagnostics(Self.fleet(supervisor: """
              heartbeat_interval: 10ms
              heartbeat_timeout: 200ms
              restart: {initial_backoff: 1ms}
            """))
        let byKey = Dictionary(diagnostics.map { ($0.keyPath, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byKey["supervisor.heartbeat_interval"] == "must be at least 100ms, found '10ms'")
        #expect(byKey["supervisor.heartbeat_timeout"] == "must be at least 1s, found '200ms'")
        #expect(byKey["supervisor.restart.initial_backoff"] == "must be at least 10ms, found '1ms'")
        #expect(diagnostics.allSatisfy { $0.line > 1 && $0.column > 1 }, "\(diagnostics)")
    }

    @Test func keepaliveIntervalHasAFloor() {
        let diagnostics = configDiagnostics(Self.fleet(tenantSettings: "    keepalive_interval: 5ms"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.keepalive_interval", line: 10,
            message: "must be at least 100ms, found '5ms'")
    }

    @Test func theMinimumsThemselvesAreAccepted() {
        #expect(configDiagnostics(Self.fleet(
            supervisor: "  heartbeat_interval: 100ms\n  heartbeat_timeout: 1s\n  restart: {initial_backoff: 10ms}",
            tenantSettings: "    health_check_interval: 250ms\n    keepalive_interval: 100ms")).isEmpty)
    }

    // MARK: - File size

    @Test func aFleetFileOverTheLimitIsRefusedBeforeItIsRead() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        let path = try dir.write("fleet.yaml", "version: 1\n")
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(FleetConfigLoader.maxFileBytes + 1))
        try handle.close()
        #expect(FleetConfigLoader.maxFileBytes == 16 << 20)
        do {
            _ = try FleetConfigLoader.load(path: path)
            Issue.record("a 16 MiB + 1 byte file was accepted")
        } catch let error as ConfigError {
            let diagnostic = try #require(error.diagnostics.first)
            #expect(error.diagnostics.count == 1)
            #expect(diagnostic.line == 1 && diagnostic.column == 1)
            #expect(diagnostic.message == "the fleet file is \(16 << 20 + 1) bytes; fleet files are limited to 16MiB (16777216 bytes)")
        }
    }

    @Test func aPortClashAtTheEndOfAManyTenantFileIsFound() {
        var yaml = "version: 1\nsupervisor: {listen: '127.0.0.1:0'}\ntenants:\n"
        for i in 0..<3000 {
            yaml += "  t\(i): {listen: '127.0.0.1:\(20000 + i)', api_keys: [k\(i)], tokens: [{name: t, jwt: j\(i)}]}\n"
        }
        yaml += "  last: {listen: '0.0.0.0:20007', api_keys: [k], tokens: [{name: t, jwt: j}]}\n"
        let diagnostics = configDiagnostics(yaml)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.last.listen", line: 3004, message: "port 20007 is already used by tenants.t7")
    }

    // MARK: - Paths

    @Test func aControlSocketPathHoldingARegularFileIsRefused() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        let path = try dir.write("fleet.yaml", Self.fleet(supervisor: "  control_socket: fleet.yaml"))
        let diagnostics = loadDiagnostics(path)
        expectSingleDiagnostic(
            diagnostics, keyPath: "supervisor.control_socket", line: 4,
            containing: "control_socket '\(path)' exists and is a regular file, not a socket")
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func aStaleSocketIsNoObstacle() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        let path = try dir.write("fleet.yaml", Self.fleet(supervisor: "  control_socket: s.sock\n  log_dir: logs"))
        try makeStaleSocket(dir.path + "/s.sock")
        #expect(UnixSocketFile.occupant(of: dir.path + "/s.sock") == .staleSocket)
        #expect(loadDiagnostics(path).isEmpty)
    }

    @Test func clearingRemovesOnlyStaleSockets() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        let file = try dir.write("precious.txt", "keep me")
        #expect(throws: UnixSocketFile.Refusal.self) { try UnixSocketFile.clear(file, what: "the socket") }
        UnixSocketFile.removeIfSocket(file)
        #expect(FileManager.default.fileExists(atPath: file))
        try makeStaleSocket(dir.path + "/old.sock")
        try UnixSocketFile.clear(dir.path + "/old.sock", what: "the socket")
        #expect(UnixSocketFile.occupant(of: dir.path + "/old.sock") == .nothing)
    }

    @Test func aRunDirTooLongForWorkerSocketsIsRefused() {
        let longDir = "/tmp/" + String(repeating: "r", count: 70)
        let diagnostics = configDiagnostics(Self.fleet(supervisor: "  run_dir: \(longDir)", name: "a-rather-long-tenant-name"))
        let diagnostic = expectSingleDiagnostic(diagnostics, keyPath: "supervisor.run_dir", line: 4)
        #expect(diagnostic?.message.contains("tenant 'a-rather-long-tenant-name' needs 117 bytes") == true, "\(diagnostics)")
        #expect(diagnostic?.message.contains("limited to 107 bytes") == true)
        // The same folder with a short tenant name fits.
        #expect(configDiagnostics(Self.fleet(supervisor: "  run_dir: \(longDir)", name: "a")).isEmpty)
    }

    @Test func logDirMustBeAWritableFolder() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        for (logDir, fragment) in [
            ("/dev/null", "log_dir '/dev/null' is a device, not a folder"),
            ("/proc", "log_dir '/proc' is on a proc file system"),
            ("/proc/jbai-logs", "log_dir '/proc/jbai-logs' cannot be created: '/proc' is on a proc file system"),
        ] {
            let path = try dir.write("fleet.yaml", Self.fleet(supervisor: "  log_dir: \(logDir)"))
            expectSingleDiagnostic(loadDiagnostics(path), keyPath: "supervisor.log_dir", line: 4, containing: fragment)
        }
        let path = try dir.write("fleet.yaml", Self.fleet(supervisor: "  log_dir: logs/nested"))
        #expect(loadDiagnostics(path).isEmpty)
    }

    // MARK: - Escaping

    @Test func controlCharactersInMessagesAreEscaped() {
        let diagnostics = configDiagnostics(Self.fleet(name: "\"evil\\e[31mred\\u202Ename\""))
        let text = diagnostics.map(\.description).joined(separator: "\n")
        #expect(!diagnostics.isEmpty)
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E }, "\(text)")
        #expect(text.contains(#"evil\u{1B}[31mred\u{202E}name"#), "\(text)")
    }

    @Test func escapingLeavesOrdinaryTextAlone() {
        #expect(escapingControlCharacters("team-a: ok, naïve ✓ \\path") == "team-a: ok, naïve ✓ \\path")
        #expect(escapingControlCharacters("a\nb\tc\u{7}\\") == #"a\nb\tc\u{7}\\"#)
        #expect(escapingControlCharacters("\u{9B}2J") == #"\u{9B}2J"#)
    }

    // MARK: - Descriptors

    @Test func theDescriptorReserveIsAnEighthWithinBounds() {
        #expect(DescriptorHeadroom.reserve(forLimit: 256) == 64)
        #expect(DescriptorHeadroom.reserve(forLimit: 1024) == 128)
        #expect(DescriptorHeadroom.reserve(forLimit: 1 << 20) == 1024)
    }

    @Test func openDescriptorsAreCounted() throws {
        // Other tests run alongside and open files too: only a lower bound is certain.
        let fds = (0..<5).map { _ in open("/dev/null", O_RDONLY) }
        defer { for fd in fds { close(fd) } }
        let highest = try #require(fds.max())
        #expect(try #require(DescriptorHeadroom.openDescriptors()) >= 8)
        #expect(highest < DescriptorHeadroom.softLimit())
    }

    // MARK: - Fingerprints

    @Test func jwtsWithTheSameHeaderGetDifferentFingerprints() {
        let a = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.signature-a"
        let b = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.signature-b"
        #expect(fingerprint(a).hasPrefix("eyJhbGciOi...#"))
        #expect(fingerprint(a).count == "eyJhbGciOi...#".count + 4)
        #expect(fingerprint(a) != fingerprint(b))
        #expect(fingerprint(a) == fingerprint(a))
        #expect(fingerprint(a).hasSuffix("#" + String(SHA256.hex(a).prefix(4))))
    }

    @Test func shortSecretsGetNoHash() {
        #expect(fingerprint("abcdefghijklmnopqrstuvw") == "abcdefghij...")  // 23 characters
        #expect(fingerprint("abcdefghijklm") == "abc...")
        #expect(fingerprint("abc") == "...")
    }
}

/// `FleetConfigLoader.load`'s diagnostics (the file-system checks run there).
func loadDiagnostics(_ path: String) -> [ConfigDiagnostic] {
    do {
        _ = try FleetConfigLoader.load(path: path)
        return []
    } catch let error as ConfigError {
        return error.diagnostics
    } catch {
        return [ConfigDiagnostic(file: path, line: 0, column: 0, keyPath: "", message: "\(error)")]
    }
}

/// Binds a Unix socket at `path` and closes it without unlinking: what a crashed server leaves.
func makeStaleSocket(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    #expect(result == 0)
}
