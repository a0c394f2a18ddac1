import AsyncHTTPClient
import Foundation
import Shared
import Testing
@testable import WorkerCore

/// The license and OAuth answers, and the outbound proxy configuration.
@Suite struct CredentialParsingTests {
    // MARK: - License answers

    @Test func paidLicenseGivesItsToken() throws {
        #expect(try LicenseAnswer.parse(status: 200, body: #"{"state":"PAID","token":"eyJ.jwt.sig"}"#) == "eyJ.jwt.sig")
    }

    @Test(arguments: ["TRIAL", "FREE", "ACTIVE", "paid", "GRACE_PERIOD"])
    func anyStateWithATokenIsAccepted(state: String) throws {
        let body = #"{"state":"\#(state)","token":"eyJ.jwt.sig","extra":{"ignored":true}}"#
        #expect(try LicenseAnswer.parse(status: 200, body: body) == "eyJ.jwt.sig")
    }

    @Test func tokenWithoutStateIsAccepted() throws {
        #expect(try LicenseAnswer.parse(status: 200, body: #"{"token":"eyJ.jwt.sig"}"#) == "eyJ.jwt.sig")
    }

    @Test func missingTokenIsTheFailureAndNamesTheState() {
        #expect {
            try LicenseAnswer.parse(status: 200, body: #"{"state":"TRIAL_EXPIRED"}"#)
        } throws: { error in
            (error as? LicenseError)?.description == "license answer has no token (state 'TRIAL_EXPIRED')"
        }
        #expect {
            try LicenseAnswer.parse(status: 200, body: #"{"state":"PAID","token":""}"#)
        } throws: { error in
            (error as? LicenseError)?.description == "license answer has no token (state 'PAID')"
        }
        #expect {
            try LicenseAnswer.parse(status: 200, body: #"{}"#)
        } throws: { error in
            (error as? LicenseError)?.description == "license answer has no token (no state)"
        }
    }

    @Test func strangeStateIsNotEchoedWhole() {
        let state = "eyJhbGciOiJIUzI1NiJ9.not-a-state.at-all-0123456789"
        #expect {
            try LicenseAnswer.parse(status: 200, body: #"{"state":"\#(state)"}"#)
        } throws: { error in
            let text = "\(error)"
            return text.contains(fingerprint(state)) && !text.contains(state)
        }
    }

    @Test func nonOKStatusIsKeptForTheCaller() {
        #expect {
            try LicenseAnswer.parse(status: 401, body: #"{"error":"unauthorized"}"#)
        } throws: { error in
            guard let error = error as? LicenseError else { return false }
            return error.status == 401 && error.isUnauthorized && error.description == "license endpoint answered 401"
        }
        #expect(throws: LicenseError.self) { try LicenseAnswer.parse(status: 200, body: "not json") }
    }

    // MARK: - OAuth answers

    @Test func idTokenAnswer() throws {
        let answer = try OAuthToken.parse(status: 200, body: """
            {"id_token":"id-1","access_token":"access-1","token_type":"Bearer","expires_in":3600,"scope":"openid"}
            """)
        #expect(answer == OAuthTokenAnswer(idToken: "id-1", expiresIn: 3600, refreshToken: nil))
    }

    @Test func accessTokenWhenThereIsNoIDToken() throws {
        let answer = try OAuthToken.parse(status: 200, body: #"{"access_token":"access-1","expires_in":"1800"}"#)
        #expect(answer == OAuthTokenAnswer(idToken: "access-1", expiresIn: 1800, refreshToken: nil))
    }

    @Test func rotatedRefreshTokenIsRead() throws {
        let answer = try OAuthToken.parse(
            status: 200, body: #"{"id_token":"id-2","expires_in":60.5,"refresh_token":"rt-new","unknown":[1,2]}"#)
        #expect(answer == OAuthTokenAnswer(idToken: "id-2", expiresIn: 60.5, refreshToken: "rt-new"))
    }

    @Test(arguments: [#""expires_in":null"#, #""expires_in":"soon""#, #""expires_in":-5"#, #""expires_in":0"#, #""x":1"#])
    func unusableExpiresInIsLeftOut(field: String) throws {
        let answer = try OAuthToken.parse(status: 200, body: #"{"id_token":"id-3",\#(field)}"#)
        #expect(answer.idToken == "id-3")
        #expect(answer.expiresIn == nil)
    }

    @Test func answerWithoutAnyTokenFails() {
        #expect {
            try OAuthToken.parse(status: 200, body: #"{"id_token":"","refresh_token":"rt"}"#)
        } throws: { error in
            (error as? OAuthError)?.description == "OAuth token answer has neither id_token nor access_token"
        }
        #expect(throws: OAuthError.self) { try OAuthToken.parse(status: 200, body: "<html>") }
    }

    @Test func invalidGrantIsRecognised() {
        #expect {
            try OAuthToken.parse(status: 400, body: #"{"error":"invalid_grant","error_description":"Token rt-secret revoked"}"#)
        } throws: { error in
            guard let error = error as? OAuthError else { return false }
            return error.isInvalidGrant && error.status == 400 && !error.description.contains("rt-secret")
                && error.description.hasPrefix("OAuth token endpoint answered 400 invalid_grant (the refresh token was refused")
        }
    }

    @Test func otherRefusalsAreNotInvalidGrant() {
        #expect {
            try OAuthToken.parse(status: 503, body: "busy")
        } throws: { error in
            guard let error = error as? OAuthError else { return false }
            return !error.isInvalidGrant && error.code == nil && error.description == "OAuth token endpoint answered 503"
        }
        #expect {
            try OAuthToken.parse(status: 400, body: #"{"error":"rt-0123456789 is not valid!"}"#)
        } throws: { error in
            (error as? OAuthError)?.code == nil
        }
    }

    @Test func formBodyEncodesTheRefreshToken() {
        #expect(OAuthToken.formBody(refreshToken: "abc-DEF_1.2~3")
            == "grant_type=refresh_token&refresh_token=abc-DEF_1.2~3&client_id=ide")
        #expect(OAuthToken.formBody(refreshToken: "a+b/c=d&e f")
            == "grant_type=refresh_token&refresh_token=a%2Bb%2Fc%3Dd%26e%20f&client_id=ide")
    }

    // MARK: - Outbound proxy

    @Test func outboundProxyBecomesTheClientsConnectProxy() throws {
        let proxy = try #require(OutboundProxy(parsing: "http://alice:s3cret@proxy.internal:3128"))
        let configured = UpstreamClient.proxyConfiguration(proxy)
        #expect(configured.host == "proxy.internal")
        #expect(configured.port == 3128)
        #expect(configured.authorization == .basic(username: "alice", password: "s3cret"))
        let open = UpstreamClient.proxyConfiguration(try #require(OutboundProxy(parsing: "http://127.0.0.1:8080")))
        #expect(open.authorization == nil)
    }
}
