import Foundation
import XCTest

/// The server's /tokenize and /detokenize (llama.cpp's shapes) and --api-key: every route but /health needs the key.
final class ServerTokenAndKeyTests: XCTestCase {
    var model: URL { CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16") }

    func testTokenizeAndDetokenizeMatchTheCommandLine() throws {
        let server = try ServerProcess(["--model", model.path, "--guard", "off"])
        defer { XCTAssertEqual(server.stop(), 0) }
        let text = "Hello world, this is a test."
        let cli = try CommandRunner.run(["tokenize", "--model", model.path, "--text", text])
        let expected = try XCTUnwrap(try CommandRunner.json(cli.stdout) as? [Int])
        let bare = try XCTUnwrap(try CommandRunner.json(try CommandRunner.run(["tokenize", "--model", model.path, "--text", text,
                                                                             "--no-special-tokens"]).stdout) as? [Int])
        let withSpecial = try HTTP.request("POST", server.baseURL + "/tokenize", body: #"{"content": "\#(text)", "add_special": true}"#)
        XCTAssertEqual(withSpecial.status, 200, withSpecial.body)
        XCTAssertEqual(try withSpecial.json()["tokens"] as? [Int], expected)
        let plain = try HTTP.request("POST", server.baseURL + "/tokenize", body: #"{"content": "\#(text)"}"#)
        XCTAssertEqual(try plain.json()["tokens"] as? [Int], bare)
        let back = try HTTP.request("POST", server.baseURL + "/detokenize", body: #"{"tokens": \#(bare)}"#)
        XCTAssertEqual(back.status, 200, back.body)
        XCTAssertEqual(try back.json()["content"] as? String, text)

        for (path, body, param) in [("/tokenize", #"{"content": 5}"#, "content"), ("/tokenize", #"{"content": "a", "add_special": 1}"#, "add_special"),
                                    ("/detokenize", #"{"tokens": [1, 99999]}"#, "tokens"), ("/detokenize", #"{"tokens": [1.5]}"#, "tokens")] {
            let reply = try HTTP.request("POST", server.baseURL + path, body: body)
            XCTAssertEqual(reply.status, 400, "\(path) \(body): \(reply.body)")
            let error = try XCTUnwrap(try reply.json()["error"] as? [String: Any])
            XCTAssertEqual(error["param"] as? String, param)
            XCTAssertEqual(error["type"] as? String, "invalid_request_error")
        }
    }

    func testAnAPIKeyIsRequiredEverywhereButHealth() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let keyFile = folder.appendingPathComponent("key")
        try Data("s3cret-key\nignored second line\n".utf8).write(to: keyFile)
        let server = try ServerProcess(["--model", model.path, "--guard", "off", "--api-key-file", keyFile.path])
        defer { XCTAssertEqual(server.stop(), 0) }

        XCTAssertEqual(try HTTP.request("GET", server.baseURL + "/health").status, 200)
        let missing = try HTTP.request("GET", server.baseURL + "/v1/models")
        XCTAssertEqual(missing.status, 401, missing.body)
        let error = try XCTUnwrap(try missing.json()["error"] as? [String: Any])
        XCTAssertEqual(error["type"] as? String, "authentication_error")
        XCTAssertEqual(error["code"] as? String, "invalid_api_key")
        XCTAssertEqual(try HTTP.request("GET", server.baseURL + "/v1/models", headers: ["Authorization: Bearer wrong"]).status, 401)
        XCTAssertEqual(try HTTP.request("GET", server.baseURL + "/v1/models", headers: ["Authorization: Bearer s3cret-key"]).status, 200)
        XCTAssertEqual(try HTTP.request("POST", server.baseURL + "/tokenize", body: #"{"content": "hi"}"#,
                                        headers: ["X-Api-Key: s3cret-key"]).status, 200)
        XCTAssertEqual(try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: #"{"messages": [{"role": "user", "content": "hi"}]}"#).status, 401)

        try Data("\n".utf8).write(to: keyFile)
        let empty = try CommandRunner.run(["serve", "--model", model.path, "--api-key-file", keyFile.path])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("the API key is empty"), empty.stderr)
    }
}
