import Foundation
import Runtime

/// `adapters/telelora/spec.json` as training/export.py writes it: format and version, the generator's architecture
/// (sizes, layer-type order, tensor shapes) and what the teleporter needs (targets, rows, probe set).
public struct TeleLoRASpec: Sendable, Equatable {
    public static let format = "teleguard-telelora"
    public static let version = 1
    /// The W column statistics this port computes, in order (training/generator.py `W_STAT_NAMES`).
    public static let weightColumnStatistics = ["col_rms", "col_mean", "col_mean_abs", "col_max_abs"]

    public let file: String
    public let rank: Int
    public let channels: Int
    public let exchangeableLayers: Int
    public let hidden: Int
    public let typeEmbedding: Int
    public let maxNorm: Float
    /// What U is divided by (step 6 of the forward pass).
    public let uScale: UScale
    public let epsilon: Float
    /// Row order of the type embedding.
    public let layerTypes: [String]
    /// Tensor name → shape, as exported.
    public let tensors: [String: [Int]]
    /// Module-name regular expressions of the targeted linear layers.
    public let targets: [String]
    public let targetLayerTypes: [String]
    /// Rows N per layer the generator was trained with.
    public let activationRows: Int
    /// Probe prompts file, relative to the spec's directory.
    public let probeFile: String
    public let generatorSHA256: String?
    /// Where the teleported patches act (`patch_positions`: "all", or "generated" for generated tokens only, the
    /// prompt read by the original model); absent in specs written before it existed, which meant all.
    public let patchPositions: LoRAScope
    /// The decoding rule of the guard (`veto_ratio`, `veto_window`, `veto_evidence`, with patch positions "generated"
    /// only); absent: none.
    public let veto: TokenVeto?

    public static func load(from url: URL) throws -> TeleLoRASpec {
        let root = try JSONFields.load(url, missing: { TeleLoRAError.missing(file: $0) },
                                       makeError: { TeleLoRAError.malformed(file: $0, field: $1, detail: $2) })
        let file = url.path
        let format = try root.string("format")
        guard format == Self.format else {
            throw TeleLoRAError.unsupported(file: file, field: "format", expected: "'\(Self.format)'", found: "'\(format)'")
        }
        let version = try root.int("version")
        guard version == Self.version else {
            throw TeleLoRAError.unsupported(file: file, field: "version", expected: "\(Self.version)", found: "\(version)")
        }
        let architecture = try root.object("architecture")
        try expect(architecture, "activation", "silu")
        let uScaleName = try architecture.string("u_scale")
        guard let uScale = UScale(rawValue: uScaleName) else {
            throw TeleLoRAError.unsupported(file: file, field: "architecture.u_scale",
                                            expected: UScale.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or "),
                                            found: "'\(uScaleName)'")
        }
        let statistics = try architecture.strings("w_column_stats")
        guard statistics == Self.weightColumnStatistics else {
            throw TeleLoRAError.unsupported(file: file, field: "architecture.w_column_stats",
                                            expected: "\(Self.weightColumnStatistics)", found: "\(statistics)")
        }
        let pooling = try architecture.strings("pooling_over_n")
        guard pooling == ["mean", "max"] else {
            throw TeleLoRAError.unsupported(file: file, field: "architecture.pooling_over_n", expected: "[\"mean\", \"max\"]", found: "\(pooling)")
        }
        let epsilon = try architecture.object("normalization").double("eps")
        let rank = try architecture.positiveInt("rank")
        let topRank = try root.positiveInt("rank")
        guard topRank == rank else {
            throw TeleLoRAError.malformed(file: file, field: "rank", detail: "\(topRank) disagrees with architecture.rank \(rank)")
        }
        let rawTensors = try architecture.value("tensors", [String: Any].self, "an object of tensor shapes")
        var tensors: [String: [Int]] = [:]
        for (name, shape) in rawTensors {
            guard let dims = shape as? [Int] else {
                throw TeleLoRAError.malformed(file: file, field: "architecture.tensors.\(name)", detail: "expected a list of integers")
            }
            tensors[name] = dims
        }
        let layerTypes = try architecture.strings("layer_types")
        guard !layerTypes.isEmpty else {
            throw TeleLoRAError.malformed(file: file, field: "architecture.layer_types", detail: "must not be empty")
        }
        let probeSet = try root.object("probe_set")
        var patchPositions = LoRAScope.allTokens
        if root.has("patch_positions") {
            let found = try root.string("patch_positions")
            guard let scope = LoRAScope(rawValue: found) else {
                throw TeleLoRAError.unsupported(file: file, field: "patch_positions",
                                                expected: LoRAScope.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or "),
                                                found: "'\(found)'")
            }
            patchPositions = scope
        }
        var veto: TokenVeto?
        if root.has("veto_ratio") {
            let ratio = try root.double("veto_ratio")
            let window = root.has("veto_window") ? try root.positiveInt("veto_window") : 1
            let evidence = root.has("veto_evidence") ? try root.double("veto_evidence") : nil
            do { veto = try TokenVeto(ratio: ratio, window: window, evidence: evidence) } catch GenerationError.invalidParameter(let field, let detail) {
                throw TeleLoRAError.malformed(file: file, field: field,
                                              detail: GenerationError.invalidParameter(field: field, detail: detail).description)
            }
            guard patchPositions == .generatedTokens else {
                throw TeleLoRAError.malformed(file: file, field: "veto_ratio", detail: "needs patch_positions 'generated'")
            }
        } else if let field = ["veto_window", "veto_evidence"].first(where: root.has) {
            throw TeleLoRAError.malformed(file: file, field: field, detail: "needs veto_ratio")
        }
        return TeleLoRASpec(
            file: file, rank: rank, channels: try architecture.positiveInt("channels"),
            exchangeableLayers: try architecture.positiveInt("exchangeable_layers"),
            hidden: try architecture.positiveInt("hidden"), typeEmbedding: try architecture.positiveInt("type_embedding"),
            maxNorm: Float(try architecture.double("max_norm")), uScale: uScale, epsilon: Float(epsilon), layerTypes: layerTypes,
            tensors: tensors, targets: try root.strings("targets"), targetLayerTypes: try root.strings("target_layer_types"),
            activationRows: try root.positiveInt("activation_rows"), probeFile: try probeSet.string("file"),
            generatorSHA256: root.has("generator_sha256") ? try root.string("generator_sha256") : nil,
            patchPositions: patchPositions, veto: veto)
    }

    private static func expect(_ fields: JSONFields, _ key: String, _ expected: String) throws {
        let found = try fields.string(key)
        guard found == expected else {
            throw TeleLoRAError.unsupported(file: fields.file, field: fields.name(key), expected: "'\(expected)'", found: "'\(found)'")
        }
    }

    /// Width of the per-neuron feature row: mean and max pooling of the channels, W statistics, type embedding.
    public var featureWidth: Int { 2 * channels + Self.weightColumnStatistics.count + typeEmbedding }

    /// The tensors this architecture has, by training/generator.py's `state_dict` names.
    public var expectedTensors: [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for layer in 0..<exchangeableLayers {
            let inputChannels = layer == 0 ? 1 : channels
            for t in ["t1", "t2", "t3", "t4"] { shapes["exchangeable.\(layer).\(t)"] = [inputChannels, channels] }
            shapes["exchangeable.\(layer).b"] = [channels]
        }
        shapes["type_embedding"] = [layerTypes.count, typeEmbedding]
        shapes["a1"] = [featureWidth, hidden]
        shapes["a1_bias"] = [hidden]
        shapes["a2"] = [hidden, hidden]
        shapes["a3"] = [hidden, hidden]
        shapes["a2_bias"] = [hidden]
        shapes["u_head"] = [hidden, rank]
        shapes["v_head"] = [hidden, rank]
        return shapes
    }
}

/// How the generator divides U by the layer's input width H: by sqrt(H) (generators until release 15), or by H, so that
/// U·x is a mean over the input neurons and a patch does not grow with the width.
public enum UScale: String, Sendable, Equatable, CaseIterable {
    case inverseSquareRootWidth = "1/sqrt(H)"
    case inverseWidth = "1/H"

    /// The divisor for a layer of input width `width`.
    public func divisor(width: Int) -> Float {
        switch self {
        case .inverseSquareRootWidth: return Float(Double(width).squareRoot())
        case .inverseWidth: return Float(width)
        }
    }
}
