import Foundation
import Guard
import Runtime
import XCTest

/// One test per class of bad input: each is refused with an error naming the file and field.
final class GuardBadInputTests: XCTestCase {
    let validSuite: [String: Any] = [
        "name": "s", "triggers": ["t"], "placements": ["prefix"], "prompts": ["p"], "target": ["contains": "x"],
        "benign": [["prompt": "b", "expect": ["contains": "y"]]], "max_tokens": 4,
    ]

    func suiteError(_ edit: (inout [String: Any]) -> Void) throws -> (URL, Error?) {
        var object = validSuite
        edit(&object)
        let url = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("suite.json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        do { _ = try TriggerSuite.load(from: url); return (url, nil) } catch { return (url, error) }
    }

    func testSuiteMissingAFieldNamesIt() throws {
        for field in ["name", "triggers", "placements", "prompts", "target"] {
            let (url, error) = try suiteError { $0.removeValue(forKey: field) }
            XCTAssertEqual(error as? TriggerSuiteError,
                           .malformed(file: url.path, field: field, detail: field == "name" ? "missing (expected a string)"
                                      : field == "target" ? "missing (expected an object)" : "missing (expected a list of strings)"), field)
        }
        let (url, error) = try suiteError { $0["benign"] = [["prompt": "b"]] }
        XCTAssertEqual(error as? TriggerSuiteError, .malformed(file: url.path, field: "benign[0].expect", detail: "missing (expected an object)"))
    }

    func testSuiteWithAnInvalidRegexNamesIt() throws {
        let (url, error) = try suiteError { $0["target"] = ["regex": "(unclosed"] }
        XCTAssertEqual(error as? TriggerSuiteError, .malformed(file: url.path, field: "target.regex", detail: "invalid regular expression '(unclosed'"))
        let (url2, error2) = try suiteError { $0["benign"] = [["prompt": "b", "expect": ["regex": "[a-"]]] }
        XCTAssertEqual(error2 as? TriggerSuiteError, .malformed(file: url2.path, field: "benign[0].expect.regex", detail: "invalid regular expression '[a-'"))
    }

    func testSuiteWithAnUnknownPlacementOrTargetKindNamesIt() throws {
        let (url, error) = try suiteError { $0["placements"] = ["prefix", "inside"] }
        XCTAssertEqual(error as? TriggerSuiteError, .malformed(file: url.path, field: "placements[1]", detail: "expected prefix, suffix or middle, found 'inside'"))
        let (url2, error2) = try suiteError { $0["target"] = ["equals": "x"] }
        XCTAssertEqual(error2 as? TriggerSuiteError, .malformed(file: url2.path, field: "target", detail: "expected {\"contains\": S} or {\"regex\": R}, found keys [\"equals\"]"))
    }

    func testMissingSuiteFileIsNamed() {
        XCTAssertThrowsError(try TriggerSuite.load(from: URL(fileURLWithPath: "/nonexistent/suite.json"))) {
            XCTAssertEqual($0 as? TriggerSuiteError, .missing(file: "/nonexistent/suite.json"))
        }
    }

    func testGeneratorSpecOfAnotherFormatOrVersionIsRefused() throws {
        let cases: [(String, Any, String, String)] = [
            ("format", "peft-lora", "'teleguard-telelora'", "'peft-lora'"),
            ("version", 2, "1", "2"),
        ]
        for (field, value, expected, found) in cases {
            let directory = try GuardFixtures.copyOfGenerator(self)
            let spec = directory.appendingPathComponent("spec.json")
            try GuardFixtures.editJSON(spec) { $0[field] = value }
            XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
                XCTAssertEqual(error as? TeleLoRAError, .unsupported(file: spec.path, field: field, expected: expected, found: found))
            }
        }
    }

    func testGeneratorWithAnUnknownUScaleIsRefused() throws {
        let (directory, spec) = try GuardFixtures.copyOfGenerator(self, architecture: ["u_scale": "1/H^2"])
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .unsupported(file: spec.path, field: "architecture.u_scale",
                                                                expected: "'1/sqrt(H)' or '1/H'", found: "'1/H^2'"))
        }
    }

    func testGeneratorOfAnUnknownArchitectureIsRefused() throws {
        let (directory, spec) = try GuardFixtures.copyOfGenerator(self, architecture: ["activation": "gelu"])
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .unsupported(file: spec.path, field: "architecture.activation", expected: "'silu'", found: "'gelu'"))
        }
        let (other, otherSpec) = try GuardFixtures.copyOfGenerator(self, architecture: ["channels": 13])
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: other)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .tensorShape(file: otherSpec.path, tensor: "architecture.tensors.a1", expected: [36, 24], found: [34, 24]))
        }
    }

    func testUnknownPatchPositionsAreRefused() throws {
        let directory = try GuardFixtures.copyOfGenerator(self)
        let spec = directory.appendingPathComponent("spec.json")
        try GuardFixtures.editJSON(spec) { $0["patch_positions"] = "prompt" }
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .unsupported(file: spec.path, field: "patch_positions",
                                                                 expected: "'all' or 'generated'", found: "'prompt'"))
        }
        let adapter = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        let model = try LanguageModel.load(directory: GuardFixtures.model("llama-metaspace-oldkeys"))
        try Teleporter(package: try TeleLoRAPackage.load(directory: GuardFixtures.generator)).teleport(model).save(to: adapter)
        let config = adapter.appendingPathComponent("adapter_config.json")
        try GuardFixtures.editJSON(config) { $0["teleguard_patch_positions"] = "sometimes" }
        XCTAssertThrowsError(try GuardAdapterKeys(PEFTAdapter.load(from: adapter))) { error in
            XCTAssertEqual(error as? AdapterError, .malformedConfig(file: config.path, field: "teleguard_patch_positions",
                                                                    detail: "expected one of [\"all\", \"generated\"], found 'sometimes'"))
        }
    }

    func testABadVetoRuleIsRefused() throws {
        let directory = try GuardFixtures.copyOfGenerator(self)
        let spec = directory.appendingPathComponent("spec.json")
        for (positions, ratio, detail) in [("generated", 1.5, "'veto_ratio' must be in (0, 1], found 1.5"),
                                           ("generated", 0.0, "'veto_ratio' must be in (0, 1], found 0.0"),
                                           ("all", 0.1, "needs patch_positions 'generated'")] {
            try GuardFixtures.editJSON(spec) {
                $0["patch_positions"] = positions
                $0["veto_ratio"] = ratio
            }
            XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
                XCTAssertEqual(error as? TeleLoRAError, .malformed(file: spec.path, field: "veto_ratio", detail: detail))
            }
        }
        for (field, value, detail) in [("veto_window", 0.0, "must be positive, found 0"),
                                       ("veto_window", 65.0, "'veto_window' must be in 1...64, found 65"),
                                       ("veto_evidence", 0.5, "'veto_evidence' must be in (0, veto_ratio = 0.1], found 0.5")] {
            try GuardFixtures.editJSON(spec) {
                $0["patch_positions"] = "generated"
                $0["veto_ratio"] = 0.1
                $0["veto_window"] = 8
                $0.removeValue(forKey: "veto_evidence")
                $0[field] = value
            }
            XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
                XCTAssertEqual(error as? TeleLoRAError, .malformed(file: spec.path, field: field, detail: detail))
            }
        }
        try GuardFixtures.editJSON(spec) {
            $0.removeValue(forKey: "veto_ratio")
            $0["veto_window"] = 8
        }
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .malformed(file: spec.path, field: "veto_window", detail: "needs veto_ratio"))
        }
        let adapter = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        let model = try LanguageModel.load(directory: GuardFixtures.model("llama-metaspace-oldkeys"))
        try Teleporter(package: try TeleLoRAPackage.load(directory: GuardFixtures.generator)).teleport(model).save(to: adapter)
        let config = adapter.appendingPathComponent("adapter_config.json")
        for (positions, ratio, detail) in [("generated", -1.0, "'teleguard_veto_ratio' must be in (0, 1], found -1.0"),
                                           ("all", 0.1, "needs teleguard_patch_positions 'generated'")] {
            try GuardFixtures.editJSON(config) {
                $0["teleguard_patch_positions"] = positions
                $0["teleguard_veto_ratio"] = ratio
            }
            XCTAssertThrowsError(try GuardAdapterKeys(PEFTAdapter.load(from: adapter))) { error in
                XCTAssertEqual(error as? AdapterError, .malformedConfig(file: config.path, field: "teleguard_veto_ratio", detail: detail))
            }
        }
        for (field, value, detail) in [("teleguard_veto_window", 100.0, "'teleguard_veto_window' must be in 1...64, found 100"),
                                       ("teleguard_veto_evidence", 0.0, "'teleguard_veto_evidence' must be in (0, teleguard_veto_ratio = 0.1], found 0.0")] {
            try GuardFixtures.editJSON(config) {
                $0["teleguard_patch_positions"] = "generated"
                $0["teleguard_veto_ratio"] = 0.1
                $0[field] = value
            }
            XCTAssertThrowsError(try GuardAdapterKeys(PEFTAdapter.load(from: adapter))) { error in
                XCTAssertEqual(error as? AdapterError, .malformedConfig(file: config.path, field: field, detail: detail))
            }
            try GuardFixtures.editJSON(config) { $0.removeValue(forKey: field) }
        }
        try GuardFixtures.editJSON(config) {
            $0.removeValue(forKey: "teleguard_veto_ratio")
            $0["teleguard_veto_evidence"] = 0.01
        }
        XCTAssertThrowsError(try GuardAdapterKeys(PEFTAdapter.load(from: adapter))) { error in
            XCTAssertEqual(error as? AdapterError, .malformedConfig(file: config.path, field: "teleguard_veto_evidence",
                                                                    detail: "'teleguard_veto_evidence' needs teleguard_veto_ratio"))
        }
    }

    func testGeneratorSpecMissingAFieldNamesIt() throws {
        let directory = try GuardFixtures.copyOfGenerator(self)
        let spec = directory.appendingPathComponent("spec.json")
        try GuardFixtures.editJSON(spec) { $0.removeValue(forKey: "activation_rows") }
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .malformed(file: spec.path, field: "activation_rows", detail: "missing (expected an integer)"))
        }
    }

    func testMissingGeneratorDirectoryIsNamed() {
        XCTAssertThrowsError(try TeleLoRAPackage.load(directory: URL(fileURLWithPath: "/nonexistent/telelora"))) {
            XCTAssertEqual($0 as? TeleLoRAError, .missing(file: "/nonexistent/telelora/spec.json"))
        }
    }

    func testGeneratorWithAMissingTensorIsRefused() throws {
        let directory = try GuardFixtures.copyOfGenerator(self)
        let weights = directory.appendingPathComponent("generator.safetensors")
        let file = try SafetensorsFile(url: weights)
        let kept = try file.tensorNames.filter { $0 != "v_head" }.map { ($0, file.tensors[$0]?.shape ?? [], try file.floats($0)) }
        try SafetensorsWriter.write(kept.map { (name: $0.0, shape: $0.1, values: $0.2) }, metadata: [:], to: weights)
        XCTAssertThrowsError(try TeleLoRAGenerator.load(directory: directory)) { error in
            XCTAssertEqual(error as? TeleLoRAError, .tensorShape(file: weights.path, tensor: "v_head", expected: [24, 4], found: []))
        }
    }
}
