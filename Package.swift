// swift-tools-version:6.0
import PackageDescription

// Module boundaries (see DESIGN.md): only TensorCore links BLAS, only Media calls the
// codec libraries, Models are pure functions of weights and tensors, Engine (the application layer) wires
// stages together, and the executable only parses arguments and runs a graph.
// The numeric modules are optimised in debug builds too: unoptimised SIMD code is ~50x
// slower, which would make the model tests (run in debug by `swift test`) take minutes.
let optimise: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "mmpipe",
    products: [
        .executable(name: "mmpipe", targets: ["mmpipe"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // OpenBLAS is loaded at start (not linked) by this C module, single-threaded and
        // with the kernel set this CPU supports (see Sources/CBLAS/include/mmpipe_blas.h).
        .target(name: "CBLAS", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavcodec libavformat libavutil libswresample libswscale",
                       providers: [.apt(["libavcodec-dev", "libavformat-dev", "libavutil-dev",
                                         "libswresample-dev", "libswscale-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // AVX2/FMA/F16C kernels, compiled for those features per function and chosen at run
        // time (the rest of the build targets baseline x86-64), and the compute pool.
        // Only TensorCore uses them.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("pthread")]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels"], swiftSettings: optimise),
        .target(name: "Media", dependencies: ["CPNG", "CJPEG", "CSndFile", "CFFmpeg", "CZlib", "TensorCore"],
                swiftSettings: optimise),
        .target(name: "Models", dependencies: ["TensorCore"], swiftSettings: optimise),
        .target(name: "Engine", dependencies: ["TensorCore", "Media", "Models", .product(name: "Logging", package: "swift-log")],
                swiftSettings: optimise),
        .executableTarget(name: "mmpipe", dependencies: [
            "TensorCore", "Media", "Models", "Engine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "mmpipe-bench", dependencies: ["TensorCore", "Media", "Models", "Engine"],
                          path: "Sources/Bench", swiftSettings: optimise),
        // Decoder fuzz targets: a replay tool normally, libFuzzer targets via scripts/fuzz.
        .executableTarget(name: "mmpipe-fuzz", dependencies: ["Media"], path: "Sources/FuzzMedia"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TensorCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Media", "Models"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TensorCore", "Media"], resources: [.copy("Fixtures")]),
        // End-to-end: runs the built `mmpipe` binary on the files in Samples/.
        .testTarget(name: "CLITests", dependencies: ["mmpipe"]),
    ],
    swiftLanguageModes: [.v5]
)
