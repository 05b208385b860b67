import Foundation
import Runtime
import XCTest

/// Paths of the fixtures Guard's tests use (Tests/Fixtures), and scratch directories.
enum GuardFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let repository = root.deletingLastPathComponent().deletingLastPathComponent()
    static let telelora = root.appendingPathComponent("telelora")
    /// The random generator made by Tests/Fixtures/telelora/make_parity.py.
    static let generator = telelora.appendingPathComponent("generator")

    static func model(_ name: String) -> URL { root.appendingPathComponent("models/\(name)") }

    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-guard-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Copies the fixture generator so a test can damage its spec.
    static func copyOfGenerator(_ test: XCTestCase) throws -> URL {
        let target = try temporaryDirectory(test).appendingPathComponent("telelora")
        try FileManager.default.copyItem(at: generator, to: target)
        return target
    }

    /// A copy of the fixture generator whose spec.json `architecture` has `changes` applied; returns the copy's
    /// directory and spec file.
    static func copyOfGenerator(_ test: XCTestCase, architecture changes: [String: Any]) throws -> (directory: URL, spec: URL) {
        let directory = try copyOfGenerator(test)
        let spec = directory.appendingPathComponent("spec.json")
        try editJSON(spec) { object in
            var architecture = object["architecture"] as? [String: Any] ?? [:]
            architecture.merge(changes) { $1 }
            object["architecture"] = architecture
        }
        return (directory, spec)
    }

    static func editJSON(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    static func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}
