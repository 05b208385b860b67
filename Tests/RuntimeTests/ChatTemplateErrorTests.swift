import Foundation
import Runtime
import XCTest

/// Bad templates and bad input fail with errors that say where and why.
final class ChatTemplateErrorTests: XCTestCase {
    private func syntaxError(_ source: String) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source: source)
            return nil
        } catch {
            return error as? ChatTemplateError
        }
    }

    func testSyntaxErrorNamesLineAndColumnOfTheOffendingToken() {
        XCTAssertEqual(syntaxError("line one\n{{ x + }}"),
                       .syntax(line: 2, column: 8, message: "unexpected end of print statement"))
        XCTAssertEqual(syntaxError("a\nb\n  {% frobnicate %}"),
                       .syntax(line: 3, column: 6, message: "encountered unknown tag 'frobnicate'"))
    }

    func testSyntaxErrorColumnsCountCodePoints() {
        XCTAssertEqual(syntaxError("héllo 👋 {{ 1 $ 2 }}"), .syntax(line: 1, column: 14, message: "unexpected char \"$\""))
    }

    func testUnclosedBlockReportsTheTagsItWaitedFor() {
        XCTAssertEqual(syntaxError("{% if true %}\nyes\n"),
                       .syntax(line: 2, column: 4, message: "unexpected end of template, expected 'elif' or 'else' or 'endif'"))
    }

    func testSyntaxErrorDescriptionIsReadable() {
        let error = ChatTemplateError.syntax(line: 3, column: 7, message: "encountered unknown tag 'x'")
        XCTAssertEqual(error.description, "chat template: syntax error at line 3, column 7: encountered unknown tag 'x'")
    }

    func testRaiseExceptionSurfacesItsMessage() throws {
        let template = try ChatTemplate(source: "{% if messages|length > 1 %}{{ raise_exception('Only one message, got ' ~ messages|length) }}{% endif %}ok")
        XCTAssertEqual(try template.render(messages: [ChatMessage(role: "user", content: "a")], addGenerationPrompt: false), "ok")
        XCTAssertThrowsError(try template.render(messages: [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")],
                                                 addGenerationPrompt: false)) { error in
            XCTAssertEqual(error as? ChatTemplateError, .raised(message: "Only one message, got 2"))
        }
    }

    func testRuntimeErrorNamesTheLineAndTheUndefinedName() throws {
        let template = try ChatTemplate(source: "first\n{{ nothing.attribute }}")
        XCTAssertThrowsError(try template.render(context: [:])) { error in
            XCTAssertEqual(error as? ChatTemplateError, .runtime(line: 2, message: "'nothing' is undefined"))
        }
    }

    func testRuntimeErrorForWrongOperandTypes() throws {
        let template = try ChatTemplate(source: "{{ 1 + 'a' }}")
        XCTAssertThrowsError(try template.render(context: [:])) { error in
            XCTAssertEqual(error as? ChatTemplateError, .runtime(line: 1, message: "unsupported operand type(s) for +: 'int' and 'str'"))
        }
    }

    /// A template ships with a model file: loops that would run for hours, output or values past 4 MiB, are stopped
    /// with an error naming the limit, never a hang or an exhausted memory.
    func testRunawayLoopsOutputAndGrowthAreStoppedByLimits() throws {
        func failure(_ source: String) throws -> String? {
            do {
                _ = try ChatTemplate(source: source).render(context: [:])
                return nil
            } catch let ChatTemplateError.runtime(_, message) {
                return message
            }
        }
        let loops = try failure("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
        XCTAssertEqual(loops, "the template ran more than 1000000 steps and was stopped")
        let output = try failure("{% for i in range(50000) %}{{ 'y' * 100 }}{% endfor %}")
        XCTAssertEqual(output, "the template wrote more than 4194304 bytes and was stopped")
        let repeated = try failure("{{ 'x' * 100000000 }}")
        XCTAssertEqual(repeated, "repetition would make 100000000 elements or bytes; the limit is 4194304")
        let doubled = try failure("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
        XCTAssertEqual(doubled, "repetition would make 8388608 elements or bytes; the limit is 4194304")
        XCTAssertEqual(try failure("{{ [1] * 9223372036854775807 * 2 }}")?.hasPrefix("repetition would make"), true)
        // Under the limits a template renders as before.
        XCTAssertNil(try failure("{% for i in range(1000) %}{{ 'y' * 100 }}{% endfor %}"))
    }

    func testRunawayMacroRecursionIsAnErrorNotACrash() throws {
        let template = try ChatTemplate(source: "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}")
        XCTAssertThrowsError(try template.render(context: [:])) { error in
            XCTAssertEqual(error as? ChatTemplateError, .runtime(line: 1, message: "maximum recursion depth exceeded in macro 'm'"))
        }
    }

    func testAbsurdNestingIsASyntaxErrorNotACrash() {
        let parentheses = "{{ " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000) + " }}"
        let blocks = String(repeating: "{% if true %}", count: 10_000) + String(repeating: "{% endif %}", count: 10_000)
        let negations = "{{ " + String(repeating: "not ", count: 10_000) + "1 }}"
        let chain = "{{ 1" + String(repeating: " + 1", count: 10_000) + " }}"
        for source in [parentheses, blocks, negations, chain] {
            guard case let .syntax(line, _, message)? = syntaxError(source) else { return XCTFail("no syntax error for \(source.prefix(30))") }
            XCTAssertEqual(line, 1)
            XCTAssertTrue(message.hasPrefix("expression nested deeper") || message.hasPrefix("nested deeper"), message)
        }
    }

    /// The deepest templates the limits allow still render on a thread with a 1 MiB stack in a debug
    /// build, which uses far more stack per level than a release build (Linux threads get 8 MiB).
    func testDeepestAllowedTemplatesRenderOnASmallStack() throws {
        let sources = [
            "{{ " + String(repeating: "(", count: 30) + "1" + String(repeating: ")", count: 30) + " }}",
            String(repeating: "{% if true %}", count: 30) + "x" + String(repeating: "{% endif %}", count: 30),
            "{{ 1" + String(repeating: " + 1", count: 126) + " }}",
            "{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ m(31) }}",
        ]
        final class Results: @unchecked Sendable { var values: [String] = [] }
        let results = Results()
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            results.values = sources.map { (try? ChatTemplate(source: $0).render(context: [:])) ?? "failed" }
            finished.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        finished.wait()
        XCTAssertEqual(results.values, ["1", "x", "127", "done"])
    }

    func testInvalidJSONInputNamesTheOffset() {
        XCTAssertThrowsError(try JinjaValue(json: "{\"a\": [1, 2,]}")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .invalidJSON(offset: 12, message: "unexpected character"))
        }
    }
}
