import AsyncHTTPClient
import Foundation
import NIOCore
import Shared

/// Downloads the `http(s)://` images a request names and puts them in as `data:` URLs, for a
/// tenant with `fetch_image_urls: true` (off by default: a gateway that fetches URLs on a
/// client's behalf is a server-side request forgery risk). Through the tenant's HTTP client, so
/// `outbound_proxy` and TLS verification apply; at most `maxBytes`, `image/*` only.
struct ImageFetcher: Sendable {
    var http: HTTPClient
    var maxBytes = 10 << 20
    var timeout: TimeAmount = .seconds(15)

    static let mediaTypes: Set<String> = ["image/png", "image/jpeg", "image/gif", "image/webp"]

    static func isRemote(_ url: String) -> Bool {
        let lower = url.prefix(8).lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://")
    }

    /// `request` with every remote image URL replaced by its `data:` URL.
    func resolve(_ request: ChatCompletionRequest) async throws(APIError) -> ChatCompletionRequest {
        var request = request
        for m in request.messages.indices {
            guard case .parts(var parts) = request.messages[m].content else { continue }
            var changed = false
            for p in parts.indices {
                guard case .imageURL(let url) = parts[p], Self.isRemote(url) else { continue }
                parts[p] = .imageURL(try await dataURL(url, at: "messages[\(m)].content[\(p)]"))
                changed = true
            }
            if changed { request.messages[m].content = .parts(parts) }
        }
        return request
    }

    private func dataURL(_ url: String, at param: String) async throws(APIError) -> String {
        func refuse(_ why: String) -> APIError {
            APIError.invalidRequest("\(param): the image at \(url.prefix(200)) could not be used: \(why)", code: "invalid_image_url", param: param)
        }
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "image/png, image/jpeg, image/gif, image/webp")
            let response = try await http.execute(request, deadline: .now() + timeout)
            guard response.status == .ok else { throw refuse("it answered HTTP \(response.status.code)") }
            let type = (response.headers.first(name: "content-type") ?? "").split(separator: ";").first
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard Self.mediaTypes.contains(type) else { throw refuse("its type '\(type)' is not png, jpeg, gif or webp") }
            let body = try await response.body.collect(upTo: maxBytes)
            return "data:\(type);base64,\(Data(body.readableBytesView).base64EncodedString())"
        } catch let error as APIError {
            throw error
        } catch let error as NIOTooManyBytesError {
            _ = error
            throw refuse("it is larger than \(maxBytes >> 20) MiB")
        } catch {
            throw refuse("\(error)")
        }
    }
}
