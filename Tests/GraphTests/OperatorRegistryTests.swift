import SwiftPSGraph
import SwiftPSTensor
import Testing

@Suite struct OperatorRegistryTests {
    static let examples: [(String, [String: String])] = [
        ("FullyConnected", ["num_hidden": "4"]), ("Activation", ["act_type": "relu"]),
        ("LeakyReLU", ["act_type": "elu", "slope": "0.5"]),
        ("Convolution", ["kernel": "(3, 3)", "num_filter": "2", "stride": "(2, 2)", "pad": "(1, 1)"]),
        ("Pooling", ["kernel": "(2, 2)", "pool_type": "avg", "pooling_convention": "full"]),
        ("Flatten", [:]), ("Reshape", ["shape": "(0, -1)"]),
        ("BatchNorm", ["fix_gamma": "False", "eps": "1e-05", "momentum": "0.95"]),
        ("Dropout", ["p": "0.3"]), ("elemwise_add", [:]), ("Concat", ["num_args": "3", "dim": "0"]),
        ("SoftmaxOutput", ["normalization": "batch", "grad_scale": "0.5"]),
        ("LinearRegressionOutput", [:]), ("LogisticRegressionOutput", [:]),
        ("MAERegressionOutput", ["grad_scale": "2"]),
    ]

    @Test func everyOperatorIsRegisteredAndRoundTripsItsAttributes() throws {
        for (name, attrs) in Self.examples {
            let op = try OperatorRegistry.make(name, attributes: attrs)
            #expect(type(of: op).typeName == name)
            let again = try OperatorRegistry.make(name, attributes: op.attributes)
            #expect(again.attributes == op.attributes, "\(name) attributes do not round-trip")
            for (k, v) in attrs where k != "eps" {
                let got = op.attributes[k].map { String($0.filter { $0 != " " }) }
                #expect(got == String(v.filter { $0 != " " }), "\(name).\(k)")
            }
        }
    }

    @Test(arguments: [
        ("flatten", "Flatten"), ("_Plus", "elemwise_add"), ("_plus", "elemwise_add"),
        ("broadcast_plus", "broadcast_add"),
        ("reshape", "Reshape"), ("concat", "Concat"),
    ])
    func aliases(alias: String, name: String) throws {
        let attrs: [String: String] =
            name == "Reshape" ? ["shape": "(-1,)"] : name == "Concat" ? ["num_args": "2"] : [:]
        #expect(type(of: try OperatorRegistry.make(alias, attributes: attrs)).typeName == name)
    }

    @Test func unknownOperator() {
        #expect(throws: GraphError.unknownOperator("CTCLoss")) {
            _ = try OperatorRegistry.make("CTCLoss", attributes: [:])
        }
    }
}
