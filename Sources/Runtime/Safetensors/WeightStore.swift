import Foundation

/// All weights of one model directory, by Hugging Face tensor name.
///
/// Finds the weights the way `transformers` does, in this order: `model.safetensors`,
/// `model.safetensors.zst`, `model.safetensors.index.json` (its `weight_map` names the shard of each
/// tensor; a shard may be stored as NAME or NAME.zst), otherwise every `*.safetensors[.zst]` file
/// in the directory (adapter directories, for example). With an index, the `weight_map` is the
/// list of tensors: a tensor a shard holds but the map does not name is not part of the model.
public final class WeightStore: @unchecked Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public let directory: URL
    /// The weight files, in the order they were found.
    public let files: [URL]
    /// All tensor names, sorted.
    public let tensorNames: [String]

    private let openFiles: [SafetensorsFile]
    /// Tensor name → index into `openFiles`.
    private let fileIndexByTensor: [String: Int]

    public init(directory: URL) throws {
        self.directory = directory
        let fileManager = FileManager.default
        let single = directory.appendingPathComponent(Self.singleFileName)
        let index = directory.appendingPathComponent(Self.indexFileName)

        var openFiles: [SafetensorsFile] = []
        var fileIndexByTensor: [String: Int] = [:]
        if let singleURL = Self.existingFile(single, fileManager) {
            let file = try SafetensorsFile(url: singleURL)
            openFiles = [file]
            for name in file.tensors.keys { fileIndexByTensor[name] = 0 }
        } else if fileManager.fileExists(atPath: index.path) {
            let weightMap = try Self.weightMap(index)
            var fileIndexByShard: [String: Int] = [:]
            for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
                let fileIndex: Int
                if let known = fileIndexByShard[shard] {
                    fileIndex = known
                } else {
                    guard let shardURL = Self.existingFile(directory.appendingPathComponent(shard), fileManager) else {
                        throw SafetensorsError.missingShard(file: index.path, shard: shard)
                    }
                    openFiles.append(try SafetensorsFile(url: shardURL))
                    fileIndex = openFiles.count - 1
                    fileIndexByShard[shard] = fileIndex
                }
                guard openFiles[fileIndex].tensors[tensor] != nil else {
                    throw SafetensorsError.tensorNotInShard(file: index.path, tensor: tensor, shard: shard)
                }
                fileIndexByTensor[tensor] = fileIndex
            }
        } else {
            for url in try Self.weightFiles(in: directory, fileManager) {
                let file = try SafetensorsFile(url: url)
                openFiles.append(file)
                for name in file.tensors.keys {
                    if let other = fileIndexByTensor[name] {
                        throw SafetensorsError.duplicateTensor(
                            tensor: name, file: openFiles[other].url.path, otherFile: url.path)
                    }
                    fileIndexByTensor[name] = openFiles.count - 1
                }
            }
        }
        guard !openFiles.isEmpty else { throw SafetensorsError.noWeights(directory: directory.path) }
        self.openFiles = openFiles
        self.fileIndexByTensor = fileIndexByTensor
        files = openFiles.map(\.url)
        tensorNames = fileIndexByTensor.keys.sorted()
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? {
        guard let fileIndex = fileIndexByTensor[name] else { return nil }
        return openFiles[fileIndex].tensors[name]
    }

    public func contains(_ name: String) -> Bool { fileIndexByTensor[name] != nil }

    /// The file that holds `name`.
    public func file(containing name: String) -> SafetensorsFile? {
        fileIndexByTensor[name].map { openFiles[$0] }
    }

    /// The tensor as `Float`s (see `SafetensorsFile.floatBuffer`), after checking its shape when
    /// `expectedShape` is given.
    public func floatBuffer(_ name: String, expectedShape: [Int]? = nil) throws -> FloatBuffer {
        guard let fileIndex = fileIndexByTensor[name], let info = openFiles[fileIndex].tensors[name] else {
            throw SafetensorsError.missingTensor(path: directory.path, tensor: name)
        }
        let file = openFiles[fileIndex]
        if let expectedShape, expectedShape != info.shape {
            throw SafetensorsError.shapeMismatch(
                file: file.url.path, tensor: name, expected: expectedShape, found: info.shape)
        }
        return try file.floatBuffer(name)
    }

    /// Number of parameters (elements) stored in each dtype.
    public var parameterCountByDType: [SafetensorsDType: Int] {
        var counts: [SafetensorsDType: Int] = [:]
        for name in tensorNames {
            if let info = info(name) { counts[info.dtype, default: 0] += info.elementCount }
        }
        return counts
    }

    // MARK: Finding the files

    /// `url` if it exists, else `url` + `.zst` if that exists.
    private static func existingFile(_ url: URL, _ fileManager: FileManager) -> URL? {
        if fileManager.fileExists(atPath: url.path) { return url }
        let compressed = url.appendingPathExtension("zst")
        return fileManager.fileExists(atPath: compressed.path) ? compressed : nil
    }

    private static func weightMap(_ index: URL) throws -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: index)
        } catch {
            throw SafetensorsError.unreadable(file: index.path, reason: error.localizedDescription)
        }
        let document: JSONValue
        do {
            document = try JSON.parse(data, maximumDepth: SafetensorsHeader.maximumJSONDepth, duplicateKeys: .reject)
        } catch let error as JSON.SyntaxError {
            throw SafetensorsError.malformedIndex(file: index.path, reason: "not valid JSON: \(error)")
        }
        guard case .object = document else {
            throw SafetensorsError.malformedIndex(file: index.path, reason: "not a JSON object")
        }
        guard let weightMapValue = document["weight_map"] else {
            throw SafetensorsError.malformedIndex(file: index.path, reason: "missing 'weight_map'")
        }
        guard case let .object(entries) = weightMapValue else {
            throw SafetensorsError.malformedIndex(file: index.path, reason: "'weight_map' is not an object")
        }
        var weightMap: [String: String] = [:]
        for (tensor, value) in entries {
            guard case let .string(shard) = value, !shard.isEmpty else {
                throw SafetensorsError.malformedIndex(
                    file: index.path, reason: "weight_map entry '\(tensor)' is not a file name")
            }
            weightMap[tensor] = shard
        }
        return weightMap
    }

    /// Every `*.safetensors` and `*.safetensors.zst` in `directory`, sorted by name; where both
    /// NAME and NAME.zst exist, only NAME (they hold the same tensors).
    private static func weightFiles(in directory: URL, _ fileManager: FileManager) throws -> [URL] {
        let names: [String]
        do {
            names = try fileManager.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw SafetensorsError.noWeights(directory: directory.path)
        }
        let candidates = Set(names.filter { !$0.hasPrefix(".") })
        return candidates.sorted().compactMap { name in
            if name.hasSuffix(".safetensors") { return directory.appendingPathComponent(name) }
            if name.hasSuffix(".safetensors.zst"), !candidates.contains(String(name.dropLast(4))) {
                return directory.appendingPathComponent(name)
            }
            return nil
        }
    }
}
