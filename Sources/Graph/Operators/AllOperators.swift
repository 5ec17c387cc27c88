/// Every operator type SwiftPS implements; `OperatorRegistry` indexes this list by name.
/// Add a new operator here.
let allOperatorTypes: [any Operator.Type] = [
    FullyConnected.self
]
