// swift-tools-version:6.0
// SwiftPS: a distributed parameter-server training system modeled on Apache MXNet 1.x.
// The targets follow the layers of DESIGN.md, bottom up; each Sources/<Folder> is one layer.
import PackageDescription

let package = Package(
    name: "SwiftPS",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SwiftPS", targets: ["SwiftPS"]),
        .executable(name: "swiftps", targets: ["swiftps"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    // Every target lists every SwiftPS module below it, not only the ones it imports directly. SwiftPM
    // recompiles a target in a release build when one of its listed dependencies' .swiftmodule files
    // changes, and the compiler leaves a .swiftmodule untouched when its interface is unchanged; with
    // cross-module optimization a target can still hold code (a `Message` copy, say) from a module
    // further down. Listing only direct imports let an incremental release build keep a stale
    // `Message` layout after a stored property was added: heap corruption at run time.
    targets: [
        // C shims: system libraries and the protobuf-c wire schema.
        .systemLibrary(name: "CZmq", path: "Sources/CZmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CProtobufC", path: "Sources/CProtobufC", providers: [.apt(["libprotobuf-c-dev"])]),
        .target(
            name: "PSWire", dependencies: ["CProtobufC"], path: "Sources/PSWire", exclude: ["proto"],
            linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "CShims", path: "Sources/CShims"),

        // Tensor: NDArray, BLAS, element-wise kernels, RNG, the .params format.
        .target(
            name: "SwiftPSTensor", dependencies: ["COpenBLAS", "CZlib", "CShims"], path: "Sources/Tensor"),
        // Graph: Symbol, operators, shape inference, symbol JSON, executor.
        .target(name: "SwiftPSGraph", dependencies: ["SwiftPSTensor", "CShims"], path: "Sources/Graph"),
        // Optimizers and LR schedules: used by the Module (local updates) and by the servers.
        .target(
            name: "SwiftPSOptimizer", dependencies: ["SwiftPSTensor"], path: "Sources/Optimizer",
            exclude: ["STATE-FORMAT.md"]),
        // Transport: the Van (ZeroMQ), messages, the protobuf-c meta codec, an in-memory transport.
        .target(
            name: "SwiftPSTransport",
            dependencies: [
                "CZmq", "PSWire", "CShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Transport"),
        // Cluster: roles, rendezvous, barriers, heartbeats, deadlines, termination.
        .target(
            name: "SwiftPSCluster",
            dependencies: [
                "SwiftPSTransport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Cluster"),
        // KVStore: the protocol, `local`, and dist_sync/dist_async (worker and server sides).
        .target(
            name: "SwiftPSKVStore",
            dependencies: [
                "SwiftPSTensor", "SwiftPSOptimizer", "SwiftPSTransport", "SwiftPSCluster",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/KVStore"),
        // Module: BaseModule, Module, data iterators, metrics, initializers, callbacks, checkpoints.
        .target(
            name: "SwiftPSModule",
            dependencies: [
                "CZlib", "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport", "SwiftPSCluster",
                "SwiftPSKVStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Module"),
        // The umbrella library users import.
        .target(
            name: "SwiftPS",
            dependencies: [
                "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport",
                "SwiftPSCluster", "SwiftPSKVStore", "SwiftPSModule",
            ],
            path: "Sources/SwiftPS"),
        // CLI: one executable for every role.
        .executableTarget(
            name: "swiftps",
            dependencies: [
                "CShims", "CZmq", "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport",
                "SwiftPSCluster", "SwiftPSKVStore", "SwiftPSModule", "SwiftPS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Sources/CLI"),

        // Test helpers shared by the test targets (not a product).
        .target(name: "PSTestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "TensorTests", dependencies: ["PSTestSupport", "SwiftPSTensor"], path: "Tests/TensorTests"),
        .testTarget(
            name: "GraphTests", dependencies: ["PSTestSupport", "SwiftPSGraph", "SwiftPSTensor"],
            path: "Tests/GraphTests"),
        .testTarget(
            name: "OptimizerTests", dependencies: ["PSTestSupport", "SwiftPSOptimizer", "SwiftPSTensor"],
            path: "Tests/OptimizerTests"),
        .testTarget(
            name: "ModuleTests",
            dependencies: [
                "CZlib", "PSTestSupport", "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport",
                "SwiftPSCluster", "SwiftPSKVStore", "SwiftPSModule", "SwiftPS",
            ],
            path: "Tests/ModuleTests"),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "CZmq", "PSTestSupport", "SwiftPSTransport", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TransportTests"),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "PSTestSupport", "SwiftPSCluster", "SwiftPSTransport", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ClusterTests"),
        .testTarget(
            name: "KVStoreTests",
            dependencies: [
                "PSTestSupport", "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport",
                "SwiftPSCluster", "SwiftPSKVStore", "SwiftPSModule", "SwiftPS",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/KVStoreTests"),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "CZmq", "SwiftPSTensor", "SwiftPSGraph", "SwiftPSOptimizer", "SwiftPSTransport", "SwiftPSCluster",
                "SwiftPSKVStore", "SwiftPSModule", "SwiftPS",
            ],
            path: "Tests/EndToEndTests"),
    ]
)
