import NIOHTTP1
import Shared
import Testing
@testable import WorkerCore

@Suite struct ClientAuthenticatorTests {
    func headers(_ pairs: [(String, String)]) -> HTTPHeaders {
        HTTPHeaders(pairs)
    }

    @Test func bearerKeyAccepted() {
        let auth = ClientAuthenticator(keys: ["sk-right"])
        #expect(!auth.isOpen)
        #expect(auth.isAuthorized(headers([("Authorization", "Bearer sk-right")])))
        #expect(auth.isAuthorized(headers([("authorization", "bearer sk-right")])))
        #expect(auth.isAuthorized(headers([("Authorization", "  Bearer   sk-right  ")])))
    }

    @Test func xAPIKeyAccepted() {
        let auth = ClientAuthenticator(keys: ["sk-right"])
        #expect(auth.isAuthorized(headers([("x-api-key", "sk-right")])))
        #expect(auth.isAuthorized(headers([("X-Api-Key", " sk-right ")])))
    }

    @Test func wrongKeyRejected() {
        let auth = ClientAuthenticator(keys: ["sk-right"])
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer sk-wrong")])))
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer sk-righ")])))
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer sk-right2")])))
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer ")])))
        #expect(!auth.isAuthorized(headers([("x-api-key", "sk-wrong")])))
        #expect(!auth.isAuthorized(headers([("Authorization", "Basic c2stcmlnaHQ=")])))
    }

    @Test func missingKeyRejected() {
        let auth = ClientAuthenticator(keys: ["sk-right"])
        #expect(!auth.isAuthorized(HTTPHeaders()))
        #expect(!auth.isAuthorized(headers([("Content-Type", "application/json")])))
    }

    @Test func severalKeysEachAccepted() {
        let auth = ClientAuthenticator(keys: ["key-one", "key-two", "a-much-longer-third-key"])
        #expect(auth.isAuthorized(headers([("Authorization", "Bearer key-one")])))
        #expect(auth.isAuthorized(headers([("Authorization", "Bearer key-two")])))
        #expect(auth.isAuthorized(headers([("x-api-key", "a-much-longer-third-key")])))
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer key-three")])))
    }

    @Test func noKeysMeansOpen() {
        for keys in [[String](), [""]] {
            let auth = ClientAuthenticator(keys: keys)
            #expect(auth.isOpen)
            #expect(auth.isAuthorized(HTTPHeaders()))
            #expect(auth.isAuthorized(headers([("Authorization", "Bearer anything")])))
        }
    }

    @Test func emptyConfiguredKeyNeverMatchesEmptyPresentedKey() {
        let auth = ClientAuthenticator(keys: ["", "real"])
        #expect(!auth.isOpen)
        #expect(!auth.isAuthorized(headers([("Authorization", "Bearer ")])))
        #expect(!auth.isAuthorized(headers([("x-api-key", "")])))
    }

    @Test func presentedKey() {
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "Bearer abc")])) == "abc")
        #expect(ClientAuthenticator.presentedKey(headers([("x-api-key", "xyz")])) == "xyz")
        #expect(ClientAuthenticator.presentedKey(HTTPHeaders()) == nil)
    }

    @Test func constantTimeEqualsEqual() {
        #expect(ClientAuthenticator.constantTimeEquals([], []))
        #expect(ClientAuthenticator.constantTimeEquals(Array("secret".utf8), Array("secret".utf8)))
    }

    @Test func constantTimeEqualsDifferent() {
        #expect(!ClientAuthenticator.constantTimeEquals(Array("secret".utf8), Array("secreT".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals(Array("aecret".utf8), Array("secret".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals([0xFF], [0x7F]))
    }

    @Test func constantTimeEqualsDifferentLength() {
        #expect(!ClientAuthenticator.constantTimeEquals(Array("secret".utf8), Array("secret2".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals(Array("secret".utf8), Array("secre".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals([], [1]))
        // Length differences made of zero bytes must still count as different.
        #expect(!ClientAuthenticator.constantTimeEquals([1, 2], [1, 2, 0]))
        #expect(!ClientAuthenticator.constantTimeEquals([], [0]))
    }

    @Test func constantTimeEqualsLengthDifferenceOfAMultipleOf256() {
        // Lengths whose XOR is a multiple of 256 must not look equal (zero padding would match).
        let short: [UInt8] = [1]
        let long: [UInt8] = [1] + Array(repeating: 0, count: 256)  // 1 ^ 257 == 256 → truncates to 0
        #expect(!ClientAuthenticator.constantTimeEquals(short, long))
        #expect(!ClientAuthenticator.constantTimeEquals([], Array(repeating: 0, count: 256)))
    }

    @Test func presentedKeyIsTheValueWithoutSchemeAndSpaces() {
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "Bearer sk-1")])) == "sk-1")
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "BEARER \t sk-1 \t")])) == "sk-1")
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "sk-plain")])) == "sk-plain")
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "Bearer")])) == "Bearer")
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "Bearerx sk")])) == "Bearerx sk")
        #expect(ClientAuthenticator.presentedKey(headers([("Authorization", "   ")])) == "")
        #expect(ClientAuthenticator.presentedKey(headers([("x-api-key", " sk-ä ")])) == "sk-ä")
        #expect(ClientAuthenticator.presentedKey(headers([("x-api-key", "k"), ("Authorization", "Bearer a")])) == "a")
        #expect(ClientAuthenticator.presentedKey(headers([])) == nil)
    }

    @Test func matchedNameIsTheConfiguredNameOrADerivedOne() throws {
        let keys = ["sk-first-key-0123456789abcdef", "sk-second-key-0123456789abcdef"]
        let named = ClientAuthenticator(keys: keys, names: ["alice", "ci"])
        #expect(named.matchedName(headers([("x-api-key", keys[1])])) == "ci")
        #expect(named.matchedName(headers([("Authorization", "Bearer \(keys[0])")])) == "alice")
        #expect(named.matchedName(headers([("x-api-key", "sk-other")])) == nil)
        #expect(named.matchedName(headers([])) == nil)
        let plain = ClientAuthenticator(keys: keys)
        let name = try #require(plain.matchedName(headers([("x-api-key", keys[0])])))
        #expect(name == ClientKeyPolicy.defaultName(for: keys[0]))
        #expect(!name.contains("0123456789"))
    }
}
