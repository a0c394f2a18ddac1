import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct CredentialStoreTests {
    func withStore(_ body: (CredentialStore, String) throws -> Void) throws {
        let dir = try TestSupport.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(CredentialStore(stateDir: dir + "/state", tenant: "team-a"), dir)
    }

    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test func roundTripUnderTheTenantsFolder() throws {
        try withStore { store, dir in
            #expect(store.file == dir + "/state/team-a/credentials.json")
            #expect(try store.refreshToken(name: "licensed", configured: "rt-configured") == nil)
            try store.save(name: "licensed", configured: "rt-configured", refreshToken: "rt-rotated-1")
            #expect(try store.refreshToken(name: "licensed", configured: "rt-configured") == "rt-rotated-1")
            try store.save(name: "licensed", configured: "rt-configured", refreshToken: "rt-rotated-2")
            #expect(try store.refreshToken(name: "licensed", configured: "rt-configured") == "rt-rotated-2")
            // A second store on the same folder (the next process) reads the same.
            let again = CredentialStore(stateDir: dir + "/state", tenant: "team-a")
            #expect(try again.refreshToken(name: "licensed", configured: "rt-configured") == "rt-rotated-2")
        }
    }

    @Test func fileIs0600AndFolder0700() throws {
        try withStore { store, dir in
            try store.save(name: "licensed", configured: "c", refreshToken: "r")
            #expect(try mode(store.file) == 0o600)
            #expect(try mode(store.directory) == 0o700)
            #expect(try mode(dir + "/state") == 0o700)
        }
    }

    @Test func anExistingTenantFolderIsTightened() throws {
        try withStore { store, _ in
            try FileManager.default.createDirectory(
                atPath: store.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try store.save(name: "licensed", configured: "c", refreshToken: "r")
            #expect(try mode(store.directory) == 0o700)
        }
    }

    @Test func theFileHoldsADigestOfTheConfiguredValueNotTheValue() throws {
        try withStore { store, _ in
            let now = Date(timeIntervalSince1970: 1_767_225_600)
            try store.save(name: "licensed", configured: "rt-configured-secret", refreshToken: "rt-rotated", now: now)
            let text = try String(contentsOfFile: store.file, encoding: .utf8)
            #expect(!text.contains("rt-configured-secret"))
            #expect(text.contains(SHA256.hex("rt-configured-secret")))
            let document = try store.load()
            #expect(document == CredentialStore.Document(version: 1, tokens: [
                "licensed": .init(configuredSHA256: SHA256.hex("rt-configured-secret"), refreshToken: "rt-rotated", updatedAt: now),
            ]))
        }
    }

    @Test func aChangedConfiguredValueWins() throws {
        try withStore { store, _ in
            try store.save(name: "licensed", configured: "rt-old", refreshToken: "rt-rotated")
            #expect(try store.refreshToken(name: "licensed", configured: "rt-new-from-the-user") == nil)
        }
    }

    @Test func aRenamedTokenFindsItsSavedValue() throws {
        try withStore { store, _ in
            try store.save(name: "old-name", configured: "rt-configured", refreshToken: "rt-rotated")
            #expect(try store.refreshToken(name: "new-name", configured: "rt-configured") == "rt-rotated")
        }
    }

    @Test func savingOneTokenKeepsTheOthers() throws {
        try withStore { store, _ in
            try store.save(name: "a", configured: "ca", refreshToken: "ra")
            try store.save(name: "b", configured: "cb", refreshToken: "rb")
            #expect(try store.refreshToken(name: "a", configured: "ca") == "ra")
            #expect(try store.refreshToken(name: "b", configured: "cb") == "rb")
        }
    }

    @Test func noTemporaryFilesAreLeft() throws {
        try withStore { store, _ in
            for i in 0..<5 { try store.save(name: "t", configured: "c", refreshToken: "r\(i)") }
            let names = try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted()
            #expect(names == ["credentials.json", "credentials.lock"])
        }
    }

    @Test func aDamagedFileIsAnErrorWithoutItsContents() throws {
        try withStore { store, _ in
            try TestSupport.write("{not json rt-secret-in-file", to: store.file)
            #expect {
                try store.refreshToken(name: "t", configured: "c")
            } throws: { error in
                !"\(error)".contains("rt-secret-in-file")
            }
            // Saving replaces a damaged file.
            try store.save(name: "t", configured: "c", refreshToken: "r")
            #expect(try store.refreshToken(name: "t", configured: "c") == "r")
        }
    }

    @Test func stateDirThatIsAFileIsReported() throws {
        try withStore { _, dir in
            try TestSupport.write("x", to: dir + "/blocked")
            let store = CredentialStore(stateDir: dir + "/blocked", tenant: "team-a")
            #expect(throws: CredentialStore.StoreError.self) {
                try store.save(name: "t", configured: "c", refreshToken: "r")
            }
        }
    }
}
