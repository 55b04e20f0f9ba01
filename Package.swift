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
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
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
        // zlib. Not named CZlib: ZIPFoundation's own zlib module has that name, and two modules
        // of one name cannot meet in one build.
        .systemLibrary(name: "CLibz", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // AVX2/FMA/F16C kernels, compiled for those features per function and chosen at run
        // time (the rest of the build targets baseline x86-64), and the compute pool.
        // Only TensorCore uses them.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])], linkerSettings: [.linkedLibrary("pthread")]),
        // TensorCore also reads and writes the weight files (safetensors, npy, npz, CTranslate2,
        // gzip text), so zlib and the zip reader are its dependencies.
        .target(name: "TensorCore", dependencies: [
            "CBLAS", "CKernels", "CLibz",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ], swiftSettings: optimise),
        .target(name: "Media", dependencies: ["CPNG", "CJPEG", "CSndFile", "CFFmpeg", "CLibz", "TensorCore"],
                swiftSettings: optimise),
        .target(name: "Models", dependencies: ["TensorCore"], swiftSettings: optimise),
        .target(name: "Engine", dependencies: [
            "TensorCore", "Media", "Models",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            // mmpipe train's labels files (quoted CSV fields)
            .product(name: "SwiftCSV", package: "SwiftCSV"),
        ], swiftSettings: optimise),
        // `mmpipe serve`: the application layer's tasks over HTTP (OpenAI's audio and
        // embeddings API, the image jobs), on Hummingbird.
        .target(name: "Server", dependencies: [
            "Engine", "Models", "TensorCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "mmpipe", dependencies: [
            "TensorCore", "Media", "Models", "Engine", "Server",
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
        .testTarget(name: "EngineTests", dependencies: [
            "Engine", "Media", "Models", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TensorCore", "Media", "TestAudio"], resources: [.copy("Fixtures")]),
        // End-to-end: runs the built `mmpipe` binary on the files in Samples/.
        .testTarget(name: "CLITests", dependencies: ["mmpipe", "TestAudio"], resources: [.copy("Fixtures")]),
        // Test recordings from recipes (scripts/test_audio.py's twin), for the tests only.
        .target(name: "TestAudio", path: "Tests/Support/TestAudio"),
    ],
    swiftLanguageModes: [.v5]
)
