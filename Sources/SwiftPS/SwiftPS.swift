// The SwiftPS library: `import SwiftPS` brings in every layer.
@_exported import SwiftPSCluster
@_exported import SwiftPSGraph
@_exported import SwiftPSKVStore
@_exported import SwiftPSModule
@_exported import SwiftPSOptimizer
@_exported import SwiftPSTensor
@_exported import SwiftPSTransport

/// The SwiftPS version.
public let swiftPSVersion = "0.1.0"
