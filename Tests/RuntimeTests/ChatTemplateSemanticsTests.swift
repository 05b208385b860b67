import Runtime
import XCTest

/// The tricky Jinja semantics, each pinned by snippets rendered with jinja2 in transformers'
/// environment (make_expected.py, SNIPPETS).
final class ChatTemplateSemanticsTests: XCTestCase {
    func testWhitespaceControlTrimBlocksAndLstripBlocks() throws { try ChatTemplateFixtures.checkSnippets(prefix: "whitespace_") }
    func testLoopVariablesElseFilterAndScope() throws { try ChatTemplateFixtures.checkSnippets(prefix: "loop_") }
    func testNamespaceCarriesStateOutOfLoops() throws { try ChatTemplateFixtures.checkSnippets(prefix: "namespace_") }
    func testSetForms() throws { try ChatTemplateFixtures.checkSnippets(prefix: "set_") }
    func testMacrosWithDefaultsAndCallBlocks() throws { try ChatTemplateFixtures.checkSnippets(prefix: "macro_") }
    func testUndefinedBehavesLikeJinjaDefaultUndefined() throws { try ChatTemplateFixtures.checkSnippets(prefix: "undefined_") }
    func testSlicingAndSubscripts() throws {
        try ChatTemplateFixtures.checkSnippets(prefix: "slice_")
        try ChatTemplateFixtures.checkSnippets(prefix: "subscript_")
    }
    func testToJSONMatchesPythonJSONDumps() throws { try ChatTemplateFixtures.checkSnippets(prefix: "tojson_") }
    func testFilters() throws { try ChatTemplateFixtures.checkSnippets(prefix: "filter_") }
    func testIsTests() throws { try ChatTemplateFixtures.checkSnippets(prefix: "test_") }
    func testExpressionsOperatorsAndPrecedence() throws { try ChatTemplateFixtures.checkSnippets(prefix: "expr_") }
    func testGlobals() throws { try ChatTemplateFixtures.checkSnippets(prefix: "global_") }
    func testRuntimeErrorsWhereJinjaFails() throws { try ChatTemplateFixtures.checkSnippets(prefix: "error_") }
    func testSeededRandomTemplatesMatchJinja() throws { try ChatTemplateFixtures.checkSnippets(prefix: "", section: "generated") }
    func testUnknownFiltersAndTestsFailOnlyWhereJinjaDefersThem() throws { try ChatTemplateFixtures.checkSnippets(prefix: "soft_") }
    func testSyntaxErrorsOnTheLineJinjaReports() throws { try ChatTemplateFixtures.checkSnippets(prefix: "syntax_") }
}
