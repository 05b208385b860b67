import CKernels
import Foundation
import XCTest

@testable import Runtime

/// The worker pool that splits decoding products over threads, and the attention kernel of one decoding position.
final class DecodingKernelTests: XCTestCase {
    override func tearDown() {
        tg_kernels_limit(2)
        super.tearDown()
    }

    /// Every part of every task runs exactly once, tasks follow each other without a late worker running a part of
    /// a finished one, and callers on several threads take turns.
    func testPoolRunsEveryPartOnceAcrossManyTasksAndCallers() {
        final class Counts: @unchecked Sendable {
            var values: [Int32]
            init(_ count: Int) { values = [Int32](repeating: 0, count: count) }
        }
        let callers = 3, tasks = 400, maxParts = 4
        let counts = (0..<callers).map { _ in Counts(tasks * maxParts) }
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for task in 0..<tasks {
                let parts = 1 + task % maxParts
                counts[caller].values.withUnsafeMutableBufferPointer { buffer in
                    var context = (buffer.baseAddress! + task * maxParts, parts)
                    withUnsafeMutablePointer(to: &context) { pointer in
                        tg_parallel({ raw, part, parts in
                            let (slots, expected) = raw!.assumingMemoryBound(to: (UnsafeMutablePointer<Int32>, Int).self).pointee
                            precondition(parts == expected)
                            // Parts write distinct slots; the pool's completion makes the writes visible.
                            slots[part] += 1
                        }, pointer, parts)
                    }
                }
            }
        }
        for caller in 0..<callers {
            for task in 0..<tasks {
                let parts = 1 + task % maxParts
                let slots = Array(counts[caller].values[(task * maxParts)..<(task * maxParts + maxParts)])
                XCTAssertEqual(slots, (0..<maxParts).map { $0 < parts ? 1 : 0 }, "caller \(caller), task \(task)")
            }
        }
    }

    func testParallelProductsEqualOneThreadsResult() {
        let outFeatures = 300, inFeatures = 96
        let bytes = QuantizedKernelTests.randomBlocks(.q8_0, rows: outFeatures, columns: inFeatures, seed: 11)
        let x = QuantizedKernelTests.randomInputs(rows: 2, columns: inFeatures, seed: 5)
        var activations = [UInt8](repeating: 0, count: 2 * inFeatures / 32 * Int(TG_ACTIVATION_BLOCK_BYTES))
        tg_quantize_activations(x, 2, inFeatures, &activations)
        var one = [Float](repeating: 0, count: 2 * outFeatures), split = one
        tg_rows_times_quantized(Int32(GGMLType.q8_0.rawValue), activations, 2, bytes, inFeatures, 0, outFeatures, &one, outFeatures)
        tg_rows_times_matrix_parallel(Int32(GGMLType.q8_0.rawValue), activations, 2, bytes, inFeatures, outFeatures, &split, 3)
        XCTAssertEqual(split, one)

        let weights = QuantizedKernelTests.randomInputs(rows: outFeatures, columns: inFeatures, seed: 9)
        var floatOne = [Float](repeating: 0, count: 2 * outFeatures), floatSplit = floatOne
        tg_rows_times_weight(x, 2, weights, inFeatures, 0, outFeatures, &floatOne, outFeatures)
        tg_rows_times_matrix_parallel(TG_F32, x, 2, weights, inFeatures, outFeatures, &floatSplit, 2)
        XCTAssertEqual(floatSplit, floatOne)
    }

    func testWeightedRowsOnEveryPath() {
        for (count, width) in [(1, 64), (7, 64), (130, 64), (5, 13)] {
            let weights = QuantizedKernelTests.randomInputs(rows: 1, columns: count, seed: UInt64(count))
            let values = QuantizedKernelTests.randomInputs(rows: count, columns: width, seed: UInt64(width))
            var reference = [Double](repeating: 0, count: width), magnitude = reference
            for l in 0..<count {
                for j in 0..<width {
                    reference[j] += Double(weights[l]) * Double(values[l * width + j])
                    magnitude[j] += abs(Double(weights[l]) * Double(values[l * width + j]))
                }
            }
            for path in 0...Int(tg_kernels_vectorized()) {
                tg_kernels_limit(Int32(path))
                var out = [Float](repeating: .nan, count: width)
                tg_weighted_rows(weights, count, values, width, &out)
                for j in 0..<width {
                    XCTAssertEqual(Double(out[j]), reference[j], accuracy: 1e-6 * magnitude[j] + 1e-9, "path \(path), \(count)×\(width), \(j)")
                }
            }
            tg_kernels_limit(2)
        }
    }
}
