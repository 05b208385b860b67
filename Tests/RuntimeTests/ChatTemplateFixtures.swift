import Foundation
import Runtime
import XCTest

/// Reads Tests/Fixtures/chat_templates: the templates and expected.json written by make_expected.py.
enum ChatTemplateFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat_templates")

    struct Record {
        let template: String
        let conversation: String
        let messages: [JinjaValue]
        let addGenerationPrompt: Bool
        let bosToken: String
        let eosToken: String
        let extra: [String: JinjaValue]
        let rendered: String?
        let error: String?
    }

    struct Snippet {
        let name: String
        let template: String
        let context: [String: JinjaValue]
        let rendered: String?
        let error: String?
        let errorKind: String?
        /// jinja2's line for syntax errors.
        let errorLine: Int?
    }

    static func templateSource(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent("\(name).jinja"), encoding: .utf8)
    }

    private static func expected() throws -> JinjaObject {
        let text = try String(contentsOf: directory.appendingPathComponent("expected.json"), encoding: .utf8)
        guard case let .object(root) = try JinjaValue(json: text) else { throw FixtureError("expected.json is not an object") }
        return root
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private static func string(_ object: JinjaObject, _ key: String) -> String? {
        if case let .string(text)? = object[key] { return text }
        return nil
    }

    private static func objectEntries(_ value: JinjaValue?) -> [String: JinjaValue] {
        guard case let .object(object)? = value else { return [:] }
        return Dictionary(uniqueKeysWithValues: object.pairs.map { ($0.key, $0.value) })
    }

    static func records() throws -> [Record] {
        guard case let .array(items)? = try expected()["records"] else { throw FixtureError("expected.json has no records") }
        return try items.map { item in
            guard case let .object(record) = item, case let .array(messages)? = record["messages"],
                  let template = string(record, "template"), let conversation = string(record, "conversation"),
                  case let .bool(addGenerationPrompt)? = record["add_generation_prompt"]
            else { throw FixtureError("malformed record") }
            return Record(template: template, conversation: conversation, messages: messages, addGenerationPrompt: addGenerationPrompt,
                          bosToken: string(record, "bos_token") ?? "", eosToken: string(record, "eos_token") ?? "",
                          extra: objectEntries(record["extra"]), rendered: string(record, "rendered"), error: string(record, "error"))
        }
    }

    /// `section` is "snippets" (named, hand-written) or "generated" (seeded random templates).
    static func snippets(prefix: String = "", section: String = "snippets") throws -> [Snippet] {
        let root = try expected()
        guard case let .array(items)? = root[section] else { throw FixtureError("expected.json has no \(section)") }
        // Generated expression cases share one context, written once.
        let sharedContext = objectEntries(root["generated_context"])
        let snippets = try items.map { item -> Snippet in
            guard case let .object(snippet) = item, let template = string(snippet, "template") else { throw FixtureError("malformed snippet") }
            let name = string(snippet, "name") ?? template
            return Snippet(name: name, template: template, context: snippet["context"] == nil ? sharedContext : objectEntries(snippet["context"]),
                           rendered: string(snippet, "rendered"), error: string(snippet, "error"), errorKind: string(snippet, "error_kind"),
                           errorLine: { if case let .int(line)? = snippet["error_line"] { return line } else { return nil } }())
        }
        return snippets.filter { $0.name.hasPrefix(prefix) }
    }

    /// Renders each snippet and compares with jinja2's output, or checks that it fails as jinja2 did
    /// (raise_exception messages exactly; other failures by kind, since messages are Python's).
    static func checkSnippets(prefix: String, section: String = "snippets", file: StaticString = #filePath, line: UInt = #line) throws {
        let snippets = try snippets(prefix: prefix, section: section)
        XCTAssertFalse(snippets.isEmpty, "no snippets named \(prefix)*", file: file, line: line)
        for snippet in snippets {
            do {
                let rendered = try ChatTemplate(source: snippet.template).render(context: snippet.context)
                if let expected = snippet.rendered {
                    XCTAssertEqual(rendered, expected, "snippet \(snippet.name)", file: file, line: line)
                } else {
                    XCTFail("snippet \(snippet.name) rendered \(rendered.debugDescription), jinja2 failed: \(snippet.error ?? "")", file: file, line: line)
                }
            } catch let error as ChatTemplateError {
                switch (error, snippet.errorKind) {
                case let (.raised(message), "raise_exception"?):
                    XCTAssertEqual(message, snippet.error, "snippet \(snippet.name)", file: file, line: line)
                case let (.syntax(errorLine, _, _), "syntax"?):
                    XCTAssertEqual(errorLine, snippet.errorLine, "snippet \(snippet.name): \(error)", file: file, line: line)
                case (.runtime, "runtime"?):
                    break
                default:
                    XCTFail("snippet \(snippet.name) failed with \(error); jinja2: \(snippet.rendered ?? snippet.error ?? "")", file: file, line: line)
                }
            }
        }
    }
}
