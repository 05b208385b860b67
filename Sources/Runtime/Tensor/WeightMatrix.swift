import CKernels
import Foundation

/// How a model keeps its weights in memory once loaded.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// GGUF Q8_0, Q4_0 and Q4_1 tensors stay in their blocks and are multiplied by the quantized kernels (as
    /// llama.cpp does: 4–7× less memory, faster decoding); every other type becomes float32.
    case asStored = "stored"
    /// Every tensor dequantized to float32: the forward pass equals transformers' on the dequantized weights.
    case float32 = "f32"
}

/// A weight matrix `[outFeatures × inFeatures]` (Hugging Face layout) as the forward pass reads it: float32, or
/// GGUF blocks kept quantized.
///
/// Quantized products follow llama.cpp: with at most `QuantizedBlocks.mostKernelRows` input rows (decoding, the
/// guard's streams and batched answers side by side) each input row is quantized to 8-bit blocks and meets the weight
/// blocks in integer dot products, up to `TG_MAX_SIDE_BY_SIDE` rows per pass over the weights; with more rows
/// (prefill) the weights are dequantized a tile at a time into scratch memory and multiplied by sgemm, whose cost is
/// then mostly the product itself.
public final class WeightMatrix: @unchecked Sendable {
    enum Storage {
        case dense(FloatBuffer)
        case quantized(QuantizedBlocks)
    }

    let inFeatures: Int
    let outFeatures: Int
    let storage: Storage

    init(dense: FloatBuffer, inFeatures: Int, outFeatures: Int) {
        precondition(dense.count == inFeatures * outFeatures, "weight matrix: element count does not match its shape")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        storage = .dense(dense)
    }

    init(quantized: QuantizedBlocks) {
        inFeatures = quantized.inFeatures
        outFeatures = quantized.outFeatures
        storage = .quantized(quantized)
    }

    var dense: FloatBuffer? {
        if case .dense(let buffer) = storage { return buffer }
        return nil
    }

    var isQuantized: Bool { dense == nil }

    /// "F32", or the GGUF type the blocks are in.
    var storageType: String {
        switch storage {
        case .dense: return "F32"
        case .quantized(let blocks): return blocks.type.description
        }
    }

    /// Bytes the weights take in memory.
    var byteCount: Int {
        switch storage {
        case .dense(let buffer): return buffer.count * MemoryLayout<Float>.size
        case .quantized(let blocks): return blocks.byteCount
        }
    }

    /// The weights as float32: the buffer itself when dense, else a new dequantized copy.
    func dequantized() -> FloatBuffer {
        switch storage {
        case .dense(let buffer): return buffer
        case .quantized(let blocks):
            let result = FloatBuffer(count: inFeatures * outFeatures)
            blocks.dequantize(rows: 0..<outFeatures, into: result.pointer)
            return result
        }
    }

    /// Writes row `row` (`inFeatures` floats) to `destination`: an embedding lookup.
    func copyRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let buffer): destination.update(from: buffer.pointer + row * inFeatures, count: inFeatures)
        case .quantized(let blocks): blocks.dequantize(rows: row..<(row + 1), into: destination)
        }
    }

    /// `y[rows × out] = x[rows × in] · Wᵀ`.
    func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        switch storage {
        case .dense(let buffer):
            BLAS.linear(x, rows: rows, weight: buffer.pointer, inFeatures: inFeatures, outFeatures: outFeatures, into: y)
        case .quantized(let blocks):
            if rows <= QuantizedBlocks.mostKernelRows {
                blocks.multiplyFewRows(x, rows: rows, into: y)
            } else {
                blocks.multiplyByTiles(x, rows: rows, into: y)
            }
        }
    }
}

/// A weight matrix in GGUF blocks (Q8_0, Q4_0 or Q4_1), rows in Hugging Face order: a view into the file's mapping
/// (as llama.cpp maps its weights) or, where rows had to be reordered, a copy this object owns.
final class QuantizedBlocks: @unchecked Sendable {
    /// The types the quantized kernels multiply directly.
    static let kernelTypes: Set<GGMLType> = [.q8_0, .q4_0, .q4_1]

    let type: GGMLType
    let inFeatures: Int
    let outFeatures: Int
    let rowBytes: Int
    let bytes: UnsafeRawPointer
    var byteCount: Int { rowBytes * outFeatures }
    /// What keeps a view's memory alive; nil when this object owns a copy.
    private let owner: AnyObject?

    /// Copies `outFeatures` rows of blocks; row `r` of the matrix is stored row `storedRow(r)` of `source`.
    convenience init(type: GGMLType, inFeatures: Int, outFeatures: Int, source: UnsafeRawPointer, storedRow: (Int) -> Int) {
        let rowBytes = Self.rowBytes(type: type, inFeatures: inFeatures)
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(1, rowBytes * outFeatures), alignment: 64)
        for row in 0..<outFeatures {
            (copy + row * rowBytes).copyMemory(from: source + storedRow(row) * rowBytes, byteCount: rowBytes)
        }
        self.init(type: type, inFeatures: inFeatures, outFeatures: outFeatures, bytes: UnsafeRawPointer(copy), owner: nil)
    }

    /// Reads the rows in place at `bytes`, which `owner` keeps alive.
    convenience init(type: GGMLType, inFeatures: Int, outFeatures: Int, viewing bytes: UnsafeRawPointer, owner: AnyObject) {
        self.init(type: type, inFeatures: inFeatures, outFeatures: outFeatures, bytes: bytes, owner: owner as AnyObject?)
    }

    private init(type: GGMLType, inFeatures: Int, outFeatures: Int, bytes: UnsafeRawPointer, owner: AnyObject?) {
        self.type = type
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        rowBytes = Self.rowBytes(type: type, inFeatures: inFeatures)
        self.bytes = bytes
        self.owner = owner
    }

    private static func rowBytes(type: GGMLType, inFeatures: Int) -> Int {
        precondition(kernelTypes.contains(type) && inFeatures % type.blockSize == 0,
                     "quantized weights: \(type) rows of \(inFeatures)")
        return inFeatures / type.blockSize * type.blockBytes
    }

    deinit {
        if owner == nil { UnsafeMutableRawPointer(mutating: bytes).deallocate() }
    }

    func dequantize(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        GGUFDequantization.dequantize(UnsafeRawPointer(bytes + rows.lowerBound * rowBytes), type: type,
                                      count: rows.count * inFeatures, into: destination)
    }

    /// Up to this many rows go through the integer kernels, in passes of `TG_MAX_SIDE_BY_SIDE` rows: four passes over
    /// 4-bit weights still cost less than dequantizing them to float32 for sgemm at every step (4 guarded answers,
    /// 8 rows, decoded 51–56 tokens/s in all through sgemm, 84–86 in passes).
    static let mostKernelRows = 16

    /// Integer dot products against the inputs quantized to 8-bit blocks; outputs split over the thread pool.
    func multiplyFewRows(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let blockBytes = inFeatures / 32 * Int(TG_ACTIVATION_BLOCK_BYTES)
        let activations = UnsafeMutableRawPointer.allocate(byteCount: rows * blockBytes, alignment: 64)
        defer { activations.deallocate() }
        tg_quantize_activations(x, rows, inFeatures, activations)
        let parts = BLAS.decodingParts(inFeatures: inFeatures, outFeatures: outFeatures)
        let pass = Int(TG_MAX_SIDE_BY_SIDE)
        for first in stride(from: 0, to: rows, by: pass) {
            let count = min(pass, rows - first)
            tg_rows_times_matrix_parallel(Int32(type.rawValue), activations + first * blockBytes, count, bytes,
                                          inFeatures, outFeatures, y + first * outFeatures, parts)
        }
    }

    /// Dequantizes up to `tileElements` weights at a time into scratch memory and multiplies them by sgemm.
    func multiplyByTiles(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        let tileRows = max(1, min(outFeatures, Self.tileElements / inFeatures))
        DequantizationScratch.shared.withBuffer(count: tileRows * inFeatures) { tile in
            var first = 0
            while first < outFeatures {
                let last = min(outFeatures, first + tileRows)
                dequantize(rows: first..<last, into: tile)
                BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: last - first, k: inFeatures, alpha: 1,
                          a: x, lda: inFeatures, b: tile, ldb: inFeatures, beta: 0, c: y + first, ldc: outFeatures)
                first = last
            }
        }
    }

    /// 4M floats (16 MiB): every decoder matrix of a small model in one tile, an embedding table in a few.
    static let tileElements = 1 << 22
}

/// Scratch buffers for dequantized tiles, reused across calls and models (each call takes one for its duration, so
/// concurrent forward passes of different models never share one).
final class DequantizationScratch: @unchecked Sendable {
    static let shared = DequantizationScratch()
    private let lock = NSLock()
    private var free: [FloatBuffer] = []

    func withBuffer<Result>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> Result) -> Result {
        let buffer: FloatBuffer = lock.withLock {
            if let index = free.firstIndex(where: { $0.count >= count }) { return free.remove(at: index) }
            return FloatBuffer(count: count)
        }
        defer { lock.withLock { free.append(buffer) } }
        return body(buffer.pointer)
    }
}

/// Which path the quantized kernels take on this CPU.
public enum QuantizedKernels {
    /// "AVX-512 VNNI", "AVX2" or "scalar".
    public static var current: String {
        switch tg_quantized_path() {
        case 2: return "AVX-512 VNNI"
        case 1: return "AVX2"
        default: return "scalar"
        }
    }
}
