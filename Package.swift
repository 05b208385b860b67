// swift-tools-version:6.0
import PackageDescription

// Release builds of the numeric targets skip bounds checks in hot loops. Debug builds keep them but still optimize:
// the tests run real models (SmolLM2's GGUF blocks are dequantized for every prompt), which unoptimized Swift ran
// tens of times slower.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "TeleGuard",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "Guard", targets: ["Guard"]),
        .executable(name: "teleguard", targets: ["teleguard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        .target(
            name: "Runtime", dependencies: ["COpenBLAS", "CZstd", "CKernels"],
            swiftSettings: numericSettings),
        // SiLU kernels with an AVX2+FMA path picked at run time (the Swift targets compile for baseline x86-64), and
        // the CPU feature checks that choose OpenBLAS's kernel set.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(
            name: "Guard", dependencies: ["Runtime", "CKernels"],
            swiftSettings: numericSettings),
        .executableTarget(
            name: "teleguard",
            dependencies: [
                "Runtime",
                "Guard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Sources/Chat"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime"]),
        .testTarget(name: "GuardTests", dependencies: ["Guard", "Runtime"]),
        .testTarget(name: "CLITests", dependencies: ["teleguard", "Runtime", "Guard"]),
    ],
    swiftLanguageModes: [.v5]
)
