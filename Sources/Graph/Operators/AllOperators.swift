/// Every operator type SwiftPS implements; `OperatorRegistry` indexes this list by name.
/// Add a new operator here.
let allOperatorTypes: [any Operator.Type] = [
    FullyConnected.self,
    Activation.self,
    LeakyReLU.self,
    Convolution.self,
    Pooling.self,
    Flatten.self,
    Reshape.self,
    BatchNorm.self,
    Dropout.self,
    ElemwiseAdd.self,
    Concat.self,
    SoftmaxOutput.self,
    LinearRegressionOutput.self,
    LogisticRegressionOutput.self,
    MAERegressionOutput.self,
    Identity.self,
    BlockGrad.self,
    MakeLoss.self,
    Clip.self,
    AddN.self,
    SoftmaxOp.self,
    LogSoftmax.self,
    SoftmaxActivation.self,
]

/// MXNet's other names for the operators above: alias → the `typeName` it stands for.
/// (`broadcast_add` is accepted for equal shapes only; shape inference rejects broadcasting.)
let operatorAliases: [String: String] = [
    "flatten": "Flatten",
    "_Plus": "elemwise_add",
    "_plus": "elemwise_add",
    "broadcast_add": "elemwise_add",
    "reshape": "Reshape",
    "concat": "Concat",
    "identity": "_copy",
    "stop_gradient": "BlockGrad",
    "make_loss": "MakeLoss",
    "ElementWiseSum": "add_n",
    "_ElementWiseSum": "add_n",
    "Softmax": "SoftmaxOutput",
]
