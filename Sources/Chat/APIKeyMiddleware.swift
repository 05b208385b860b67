import Foundation
import HTTPTypes
import Hummingbird

/// `--api-key`: every route but `/health` needs the key, as `Authorization: Bearer KEY` (what OpenAI clients send) or
/// `X-Api-Key: KEY`; otherwise 401 with OpenAI's error object (`authentication_error`).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]

    init(key: String) { self.key = Array(key.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let bearer = request.headers[.authorization].flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst("bearer ".count)) : nil
        }
        let given = bearer ?? HTTPField.Name("X-Api-Key").flatMap { request.headers[$0] }
        guard let given, Self.constantTimeEqual(Array(given.utf8), key) else {
            var response = errorResponse(.unauthorized, given == nil
                ? "an API key is required: send 'Authorization: Bearer KEY' or 'X-Api-Key: KEY'" : "the API key is not valid",
                type: "authentication_error", code: "invalid_api_key")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so response time does not leak how much of a key matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
