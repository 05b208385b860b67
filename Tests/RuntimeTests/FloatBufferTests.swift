import XCTest
@testable import Runtime

final class FloatBufferTests: XCTestCase {
    func testCopyIsIndependentOfOriginal() {
        let original = FloatBuffer([1, 2, 3])
        let copy = original.copy()
        copy.pointer[0] = 9
        XCTAssertEqual(original.array, [1, 2, 3])
        XCTAssertEqual(copy.array, [9, 2, 3])
    }
}
