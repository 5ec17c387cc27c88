/// Ready-made networks, after MXNet's `example/image-classification/symbols`.
///
/// Both take a variable `data` and end in a `SoftmaxOutput` named `softmax`, so the label variable
/// is `softmax_label`, as MXNet's Module expects by default.
public enum Models {
    /// MXNet's `mlp.py`: FullyConnected + relu layers of the given widths, then a FullyConnected of
    /// `numClasses` and SoftmaxOutput. Nodes are named `fc1`, `relu1`, `fc2`, `relu2`, …, `fc<n+1>`,
    /// `softmax`; with the default widths the arguments are `data`, `fc1_weight`, `fc1_bias`,
    /// `fc2_weight`, `fc2_bias`, `fc3_weight`, `fc3_bias`, `softmax_label`. FullyConnected flattens
    /// its input, so image batches of shape (N, 1, 28, 28) feed it directly.
    public static func mlp(numClasses: Int = 10, hidden: [Int] = [128, 64]) throws -> Symbol {
        var x = Symbol.variable("data")
        for (i, width) in hidden.enumerated() {
            x = try Symbol.fullyConnected(x, numHidden: width, name: "fc\(i + 1)")
            x = try Symbol.activation(x, actType: "relu", name: "relu\(i + 1)")
        }
        x = try Symbol.fullyConnected(x, numHidden: numClasses, name: "fc\(hidden.count + 1)")
        return try Symbol.softmaxOutput(x, name: "softmax")
    }

    /// MXNet's `lenet.py`: conv 5×5×20, tanh, max-pool 2×2/2, conv 5×5×50, tanh, max-pool 2×2/2,
    /// flatten, FullyConnected 500, tanh, FullyConnected `numClasses`, SoftmaxOutput.
    ///
    /// The nodes are named after the variables of `lenet.py`: `conv1`, `tanh1`, `pool1`, `conv2`,
    /// `tanh2`, `pool2`, `flatten`, `fc1`, `tanh3`, `fc2`, `softmax`. For (N, 1, 28, 28) input the
    /// shapes are (N, 20, 24, 24) → (N, 20, 12, 12) → (N, 50, 8, 8) → (N, 50, 4, 4) → (N, 800) →
    /// (N, 500) → (N, numClasses).
    public static func lenet(numClasses: Int = 10) throws -> Symbol {
        let data = Symbol.variable("data")
        let conv1 = try Symbol.convolution(data, kernel: [5, 5], numFilter: 20, name: "conv1")
        let tanh1 = try Symbol.activation(conv1, actType: "tanh", name: "tanh1")
        let pool1 = try Symbol.pooling(tanh1, kernel: [2, 2], poolType: "max", stride: [2, 2], name: "pool1")
        let conv2 = try Symbol.convolution(pool1, kernel: [5, 5], numFilter: 50, name: "conv2")
        let tanh2 = try Symbol.activation(conv2, actType: "tanh", name: "tanh2")
        let pool2 = try Symbol.pooling(tanh2, kernel: [2, 2], poolType: "max", stride: [2, 2], name: "pool2")
        let flatten = try Symbol.flatten(pool2, name: "flatten")
        let fc1 = try Symbol.fullyConnected(flatten, numHidden: 500, name: "fc1")
        let tanh3 = try Symbol.activation(fc1, actType: "tanh", name: "tanh3")
        let fc2 = try Symbol.fullyConnected(tanh3, numHidden: numClasses, name: "fc2")
        return try Symbol.softmaxOutput(fc2, name: "softmax")
    }
}
