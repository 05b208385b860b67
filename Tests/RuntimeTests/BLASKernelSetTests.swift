import Foundation
@testable import Runtime
import XCTest

/// OpenBLAS's pre-AVX fallback is replaced by the kernel set the CPU supports, and nothing else is touched.
final class BLASKernelSetTests: XCTestCase {
    func testAPreAVXFallbackIsReplacedByWhatTheCPUSupports() {
        XCTAssertEqual(BLASKernelSet.better(than: "Prescott", avx512: true, avx2: true), "SkylakeX")
        XCTAssertEqual(BLASKernelSet.better(than: "prescott", avx512: false, avx2: true), "Haswell")
        XCTAssertEqual(BLASKernelSet.better(than: "Nehalem", avx512: false, avx2: true), "Haswell")
        XCTAssertNil(BLASKernelSet.better(than: "Prescott", avx512: false, avx2: false))
    }

    func testAKernelSetThatAlreadyUsesAVXIsKept() {
        for kept in ["Haswell", "SkylakeX", "Cooperlake", "Zen", "SapphireRapids", "Sandybridge"] {
            XCTAssertNil(BLASKernelSet.better(than: kept, avx512: true, avx2: true), kept)
        }
    }

    func testTheUsersOwnChoiceIsNeverOverridden() {
        XCTAssertNil(BLASKernelSet.recommended(environment: ["OPENBLAS_CORETYPE": "Prescott"]))
    }

    func testTheKernelSetInUseIsNamed() {
        XCTAssertFalse(BLASKernelSet.current.isEmpty)
        XCTAssertNotEqual(BLASKernelSet.current, "unknown")
    }
}
