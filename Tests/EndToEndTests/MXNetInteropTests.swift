import Foundation
import SwiftPSGraph
import SwiftPSModule
import Testing

@testable import SwiftPSTensor

/// Interoperability with the real MXNet 1.9.1 (from PyPI, in the virtual environment scripts/test
/// makes in .build-mxnet): an MXNet checkpoint of a conv net predicts the same here, and a SwiftPS
/// checkpoint predicts the same in MXNet. Skipped when MXNet could not be installed.
@Suite(
    .serialized, .enabled(if: MXNetPython.path != nil, "MXNet 1.9.1 is not installed (.build-mxnet; see scripts/test)"),
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct MXNetInteropTests {
    /// MXNet's side: writes a checkpoint (mode `write`) or loads one (mode = its epoch), and saves
    /// MXNet's predictions for an input .npy.
    static let script = """
        # Writes an MXNet 1.x checkpoint of a small conv net (Convolution, BatchNorm, Activation, Pooling,
        # Flatten, FullyConnected, SoftmaxOutput) with random weights, and MXNet's predictions for a fixed
        # input; or loads a SwiftPS checkpoint and writes MXNet's predictions for an input.
        import sys, numpy as np, mxnet as mx
        mode, prefix, inp, out = sys.argv[1:5]
        x = np.load(inp).astype(np.float32)
        if mode == "write":
            data = mx.sym.Variable("data")
            c1 = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, pad=(1, 1), name="conv1")
            b1 = mx.sym.BatchNorm(c1, fix_gamma=False, name="bn1")
            a1 = mx.sym.Activation(b1, act_type="relu", name="relu1")
            p1 = mx.sym.Pooling(a1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
            f = mx.sym.Flatten(p1, name="flatten")
            fc = mx.sym.FullyConnected(f, num_hidden=5, name="fc1")
            sym = mx.sym.SoftmaxOutput(fc, name="softmax")
            mod = mx.mod.Module(sym, context=mx.cpu())
            mod.bind(data_shapes=[("data", x.shape)], for_training=False)
            mod.init_params(mx.init.Xavier(rnd_type="gaussian", magnitude=2))
            args, aux = mod.get_params()
            rng = np.random.RandomState(0)
            aux = {k: mx.nd.array(rng.uniform(0.5, 1.5, v.shape) if k.endswith("var") else rng.uniform(-0.2, 0.2, v.shape)) for k, v in aux.items()}
            args["bn1_gamma"] = mx.nd.array(rng.uniform(0.5, 1.5, args["bn1_gamma"].shape))
            args["bn1_beta"] = mx.nd.array(rng.uniform(-0.3, 0.3, args["bn1_beta"].shape))
            mod.set_params(args, aux)
            mod.save_checkpoint(prefix, 3)
        else:
            sym, args, aux = mx.model.load_checkpoint(prefix, int(mode))
            mod = mx.mod.Module(sym, context=mx.cpu())
            mod.bind(data_shapes=[("data", x.shape)], for_training=False)
            mod.set_params(args, aux, allow_missing=False)
        mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
        np.save(out, mod.get_outputs()[0].asnumpy())
        """

    /// MXNet's side of the training comparison: builds `mlp` or `lenet` with SwiftPS's node names,
    /// initializes it (Xavier gaussian, in, 2: fit.py's), saves PREFIX-0000, trains BATCHES batches of
    /// 128 on the first Fashion-MNIST training images in order (SGD lr, momentum 0.9, wd 1e-4, as
    /// `Module.fit` does it) and saves the weights as PREFIX-after-0001.
    static let fitScript = """
        import sys, gzip, numpy as np, mxnet as mx
        net, prefix, batches, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        def idx(path):
            with gzip.open(path) as f: b = f.read()
            dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
            return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * b[3]).reshape(dims)
        d = "\(FashionMNIST.defaultDirectory)/"
        n = 128 * batches
        x = idx(d + "train-images-idx3-ubyte.gz")[:n].astype(np.float32) / 255
        y = idx(d + "train-labels-idx1-ubyte.gz")[:n].astype(np.float32)
        data = mx.sym.Variable("data")
        if net == "lenet":
            x = x.reshape(-1, 1, 28, 28)
            h = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
            h = mx.sym.Activation(h, act_type="tanh", name="tanh1")
            h = mx.sym.Pooling(h, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
            h = mx.sym.Convolution(h, kernel=(5, 5), num_filter=50, name="conv2")
            h = mx.sym.Activation(h, act_type="tanh", name="tanh2")
            h = mx.sym.Pooling(h, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
            h = mx.sym.Flatten(h, name="flatten")
            h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=500, name="fc1"), act_type="tanh", name="tanh3")
            h = mx.sym.FullyConnected(h, num_hidden=10, name="fc2")
        else:
            x = x.reshape(-1, 784)
            h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=128, name="fc1"), act_type="relu", name="relu1")
            h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=64, name="fc2"), act_type="relu", name="relu2")
            h = mx.sym.FullyConnected(h, num_hidden=10, name="fc3")
        sym = mx.sym.SoftmaxOutput(h, name="softmax")
        it = mx.io.NDArrayIter(x, y, 128, shuffle=False)
        mod = mx.mod.Module(sym, context=mx.cpu())
        mod.bind(it.provide_data, it.provide_label)
        mx.random.seed(3)
        mod.init_params(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
        mod.save_checkpoint(prefix, 0)
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": lr, "momentum": 0.9, "wd": 1e-4})
        for batch in it:
            mod.forward_backward(batch)
            mod.update()
        mod.save_checkpoint(prefix + "-after", 1)
        """

    func runMXNet(_ arguments: [String], in dir: String, script: String = Self.script) throws {
        let scriptPath = dir + "/mx_interop.py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let result = try LaunchCommand.run(
            [MXNetPython.path!, scriptPath] + arguments, environment: ["OMP_NUM_THREADS": "1"],
            deadline: .seconds(300))
        #expect(result.status == 0, "MXNet failed: \(result.standardError)")
    }

    func maxDifference(_ a: String, _ b: String) throws -> Float {
        let x = try NPYFile.decode(try AtomicFile.read(a), path: a)
        let y = try NPYFile.decode(try AtomicFile.read(b), path: b)
        #expect(x.shape == y.shape)
        return x.maxAbsDifference(y)
    }

    /// `swiftps predict` of the checkpoint `prefix`-`epoch` for the .npy `input` (in batches of
    /// `batchSize`, predict's default when nil): the largest difference from the predictions MXNet
    /// saved in `expected`.
    func predictionDifference(
        prefix: String, epoch: Int, input: String, expected: String, batchSize: Int? = nil
    ) throws -> Float {
        let output = expected + ".swiftps.npy"
        let batch = batchSize.map { ["--batch-size", String($0)] } ?? []
        let ours = try CLIRunner.run(
            [
                "predict", "--model-prefix", prefix, "--load-epoch", String(epoch), "--input", input, "--format", "npy",
                "--output", output,
            ] + batch)
        #expect(ours.status == 0, "\(ours.stderr)")
        return try maxDifference(expected, output)
    }

    /// Binds the checkpoint `prefix`-`epoch` as a user would, with gradients for every parameter (and
    /// the data when `withData`), runs forward and a backward of the outputs' sum on `input`, and
    /// expects the gradients to be the ones MXNet saved in `gradients`, each within 1e-5 of its
    /// largest entry; but the gradients named in `unwritten`, which MXNet leaves unwritten (whatever
    /// the array held), must be zero here. Returns the executor, its outputs those of the forward.
    @discardableResult
    func expectGradientsAsMXNet(
        prefix: String, epoch: Int, input: NDArray, gradients: String, withData: Bool = false,
        unwritten: Set<String> = []
    ) throws -> Executor {
        let symbol = try Symbol.load(from: prefix + "-symbol.json")
        let (args, _) = try ParamsFile.loadCheckpointParams(prefix + String(format: "-%04d.params", epoch))
        var reqs = args.mapValues { _ in GradReq.write }
        if withData { reqs["data"] = .write }
        let exec = try symbol.simpleBind(shapes: ["data": input.shape], gradReqs: reqs)
        try exec.copyParams(from: args)
        try exec.argDict["data"]!.copy(from: input)
        exec.forward(isTrain: true)
        try exec.backward()
        let theirs = try ParamsFile.load(gradients)
        #expect(Set(theirs.map(\.0)) == Set(reqs.keys) && theirs.count == reqs.count)
        for name in unwritten { #expect(exec.gradDict[name]?.toArray().allSatisfy { $0 == 0 } == true, "\(name)") }
        for (name, expected) in theirs where !unwritten.contains(name) {
            let mine = try #require(exec.gradDict[name], "no gradient for \(name)")
            let scale = max(1, expected.toArray().map(abs).max() ?? 0)
            #expect(mine.maxAbsDifference(expected) <= 1e-5 * scale, "\(name)'s gradient differs from MXNet's")
        }
        return exec
    }

    /// One operator interop net, both sides: `input` saved as DIR/in.npy, MXNet's `script` run with
    /// PREFIX (DIR/`name`), that file, DIR/mxnet.npy and DIR/grads.params (its ending is
    /// `savingCheckpointPredictionsAndGradients`); then `swiftps predict` of checkpoint PREFIX-0001
    /// (in batches of `batchSize`, predict's default when nil) must give MXNet's predictions within
    /// 1e-5, or within 1e-5 of the largest prediction (at least 1) when `relative`, and the gradients
    /// must be MXNet's (`expectGradientsAsMXNet`, with `withData` and `unwritten`). Returns the bound
    /// executor and MXNet's predictions, for checks of a suite's own.
    @discardableResult
    func expectNetAsMXNet(
        _ name: String, script: String, input: NDArray, batchSize: Int? = nil, relative: Bool = false,
        withData: Bool = false, unwritten: Set<String> = []
    ) throws -> (exec: Executor, predictions: NDArray) {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/" + name
        try AtomicFile.write(NPYFile.encode(input), to: dir + "/in.npy")
        try runMXNet([prefix, dir + "/in.npy", dir + "/mxnet.npy", dir + "/grads.params"], in: dir, script: script)
        let predictions = try NPYFile.decode(try AtomicFile.read(dir + "/mxnet.npy"), path: dir + "/mxnet.npy")
        let scale = relative ? max(1, predictions.toArray().map(abs).max() ?? 0) : 1
        let difference = try predictionDifference(
            prefix: prefix, epoch: 1, input: dir + "/in.npy", expected: dir + "/mxnet.npy", batchSize: batchSize)
        #expect(difference <= 1e-5 * scale, "swiftps predict differs from MXNet by \(difference)")
        let exec = try expectGradientsAsMXNet(
            prefix: prefix, epoch: 1, input: input, gradients: dir + "/grads.params", withData: withData,
            unwritten: unwritten)
        return (exec, predictions)
    }

    /// The strongest evidence that `swiftps train` is MXNet's training: from the same initial weights
    /// and the same batches, SwiftPS's weights after 10 SGD steps (momentum, weight decay, no decay of
    /// biases, rescaled gradients) equal MXNet's to float rounding. (Trained this way for 3 whole
    /// epochs from one initialization, both lenets score exactly 0.8768 on the test set; accuracy
    /// differences between the two are differences of seeds.)
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory), "needs Fashion-MNIST"),
        arguments: [("mlp", "0.1"), ("lenet", "0.01")])
    func trainingFollowsMXNetStepForStep(network: String, lr: String) throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try runMXNet([network, dir + "/net", "10", lr], in: dir, script: Self.fitScript)
        let train = try CLIRunner.run([
            "train", "--network", network, "--model-prefix", dir + "/net", "--load-epoch", "0", "--num-epochs", "1",
            "--num-batches", "10", "--no-shuffle", "--lr", lr, "--mom", "0.9", "--wd", "1e-4", "--batch-size", "128",
            "--save-final", dir + "/swiftps.params", "--no-progress",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let initial = Dictionary(uniqueKeysWithValues: try ParamsFile.load(dir + "/net-0000.params"))
        let mxnet = Dictionary(uniqueKeysWithValues: try ParamsFile.load(dir + "/net-after-0001.params"))
        let ours = Dictionary(uniqueKeysWithValues: try ParamsFile.load(dir + "/swiftps.params"))
        #expect(Set(ours.keys) == Set(mxnet.keys) && mxnet.count == (network == "mlp" ? 6 : 8))
        for (name, theirs) in mxnet {
            let mine = try #require(ours[name])
            let start = try #require(initial[name])
            let moved = theirs.maxAbsDifference(start)
            #expect(moved > 1e-3, "\(name) moved only \(moved) in MXNet: the comparison would be empty")
            // Float rounding only (MXNet sums through MKL-DNN, SwiftPS through OpenBLAS): measured up to
            // 1.8e-6 after 10 lenet steps, against steps of at least 1e-3.
            #expect(mine.maxAbsDifference(theirs) < 1e-5, "\(name) differs from MXNet")
        }
    }

    @Test func anMXNetCheckpointPredictsTheSameHere() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RandomGenerator(seed: 5)
        let input = NDArray(shape: [6, 1, 8, 8])
        rng.fillUniform(input, low: 0, high: 1)
        try AtomicFile.write(NPYFile.encode(input), to: dir + "/in.npy")
        // Convolution (pad 1), BatchNorm (fix_gamma False, moving statistics), relu, max pooling,
        // Flatten, FullyConnected, SoftmaxOutput, written by MXNet's save_checkpoint.
        try runMXNet(["write", dir + "/net", dir + "/in.npy", dir + "/mxnet.npy"], in: dir)
        let ours = try CLIRunner.run([
            "predict", "--model-prefix", dir + "/net", "--load-epoch", "3", "--input", dir + "/in.npy", "--format",
            "npy", "--output", dir + "/swiftps.npy",
        ])
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(try maxDifference(dir + "/mxnet.npy", dir + "/swiftps.npy") < 1e-5)
    }

    /// The end of the scripts `predictsTheSame` runs: `sym` (labels: its arguments ending in
    /// "label") initialized at random (gammas and betas too, which MXNet sets to 1 and 0), saved as
    /// epoch 1 of `prefix`, and its predictions for `x`.
    static let savingCheckpointAndPredictions = """
        mod = mx.mod.Module(sym, context=mx.cpu(), label_names=[a for a in sym.list_arguments() if a.endswith("label")])
        mod.bind(data_shapes=[("data", x.shape)], for_training=False)
        mod.init_params(mx.init.Xavier(rnd_type="gaussian", magnitude=3))
        args, aux = mod.get_params()
        rng = np.random.RandomState(1)
        args = {k: mx.nd.array(rng.uniform(0.5, 1.5, v.shape)) if k.endswith(("gamma", "beta")) else v for k, v in args.items()}
        mod.set_params(args, aux)
        mod.save_checkpoint(prefix, 1)
        mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
        np.save(out, mod.get_outputs()[0].asnumpy())
        """

    /// The end of the interop scripts that compare gradients too: `sym` (no labels) with its
    /// parameters drawn uniformly from `ranges` (name: (low, high), in order, from one seed; when the
    /// script sets none, every argument but the data from [−1, 1) in the order of the arguments),
    /// saved as epoch 1 of `prefix`, its predictions for `x` in `out`, and in `grads` every
    /// parameter's gradient of the outputs' sum, and the data's when the script sets `data_grad`.
    static let savingCheckpointPredictionsAndGradients = """
        ranges = globals().get("ranges") or {k: (-1, 1) for k in sym.list_arguments() if k != "data"}
        data_grad = globals().get("data_grad", False)
        mod = mx.mod.Module(sym, context=mx.cpu(), label_names=None)
        mod.bind(data_shapes=[("data", x.shape)], for_training=False)
        rng = np.random.RandomState(0)
        shapes = dict(zip(sym.list_arguments(), sym.infer_shape(data=x.shape)[0]))
        args = {k: mx.nd.array(rng.uniform(*ranges[k], shapes[k])) for k in ranges}
        mod.set_params(args, {})
        mod.save_checkpoint(prefix, 1)
        mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=False)
        y = mod.get_outputs()[0]
        np.save(out, y.asnumpy())
        reqs = {k: ("write" if k != "data" or data_grad else "null") for k in sym.list_arguments()}
        ex = sym.simple_bind(mx.cpu(), data=x.shape, grad_req=reqs)
        for k, v in args.items(): v.copyto(ex.arg_dict[k])
        ex.arg_dict["data"][:] = x
        ex.forward(is_train=True)
        ex.backward(mx.nd.ones(y.shape))
        mx.nd.save(grads, {k: ex.grad_dict[k] for k in list(args) + (["data"] if data_grad else [])})
        """

    /// MXNet's side of the utility operators' comparison: a checkpoint of identity, FullyConnected,
    /// clip, softmax (temperature 2), log_softmax, SoftmaxActivation (both modes), BlockGrad, prelu
    /// (its gamma as MXNet initializes it, 0.25), rrelu (at inference, the mean slope),
    /// arithmetic with scalars and between arrays, add_n and MakeLoss, with MXNet's predictions for
    /// an input.
    static let operatorsScript = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out = sys.argv[1:4]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        h = mx.sym.FullyConnected(mx.sym.identity(data, name="id"), num_hidden=6, name="fc1")
        c = mx.sym.clip(h, a_min=-0.5, a_max=0.5, name="clip1")
        r = mx.sym.Reshape(c, shape=(-1, 2, 3), name="r")
        parts = [
            mx.sym.Flatten(mx.sym.softmax(r, axis=1, temperature=2.0, name="sm")),
            mx.sym.Flatten(mx.sym.log_softmax(r, name="lsm")),
            mx.sym.Flatten(mx.sym.SoftmaxActivation(r, mode="channel", name="sa_channel")),
            mx.sym.SoftmaxActivation(c, name="sa"),
            mx.sym.BlockGrad(c, name="bg"),
            mx.sym.LeakyReLU(c, act_type="prelu", name="prelu1"),
            mx.sym.LeakyReLU(h, act_type="rrelu", lower_bound=0.2, upper_bound=0.5, name="rrelu1")[0],
            ((c * 2.0 + 1.0 - c) / 4.0) * (1.0 - c) + 2.0 / (c + 3.0) - c * c,
        ]
        sym = mx.sym.MakeLoss(mx.sym.add_n(*parts, name="sum"), name="loss")
        \(savingCheckpointAndPredictions)
        """

    /// A checkpoint of MXNet's utility operators (saved by MXNet under its own names) predicts the same.
    @Test func mxnetsUtilityOperatorsPredictTheSameHere() throws {
        try predictsTheSame(Self.operatorsScript, input: [5, 4], range: -2...2, seed: 7)
    }

    /// MXNet's side of the convolutions' comparison: a depthwise convolution (num_group = channels),
    /// a grouped one dilated by 2, one dilated unevenly with a stride, a grouped dilated
    /// deconvolution with adj and bias, another dilated, InstanceNorm, L2Normalization (channel and
    /// instance) and LayerNorm (over channels and the last axis), with MXNet's predictions for an
    /// input.
    /// (MXNet 1.9.1 runs these on oneDNN. Its oneDNN path refuses `target_shape` ("could not create a
    /// descriptor"), and its own CPU deconvolution, taken with oneDNN off, is wrong for a stride and a
    /// dilation both above 1 (it differs from oneDNN and from the definition); `target_shape`'s
    /// pad and adj are checked against MXNet's in DeconvolutionTests instead.)
    static let groupedConvolutionScript = """
        import sys, numpy as np, mxnet as mx
        prefix, inp, out = sys.argv[1:4]
        x = np.load(inp).astype(np.float32)
        data = mx.sym.Variable("data")
        h = mx.sym.Convolution(data, kernel=(3, 3), num_filter=8, pad=(1, 1), name="conv1")
        h = mx.sym.Convolution(h, kernel=(3, 3), num_filter=8, num_group=8, pad=(1, 1), name="depthwise")
        h = mx.sym.Activation(h, act_type="relu", name="relu1")
        h = mx.sym.Convolution(h, kernel=(3, 3), num_filter=6, num_group=2, dilate=(2, 2), pad=(2, 2), name="grouped")
        h = mx.sym.Convolution(h, kernel=(2, 3), num_filter=4, dilate=(3, 2), stride=(2, 1), no_bias=True, name="dilated")
        h = mx.sym.Deconvolution(h, kernel=(3, 3), num_filter=6, stride=(2, 2), pad=(1, 1), adj=(1, 1), num_group=2, dilate=(2, 1), no_bias=False, name="up1")
        h = mx.sym.Deconvolution(h, kernel=(4, 4), num_filter=3, stride=(2, 2), dilate=(1, 2), pad=(1, 2), adj=(1, 0), name="up2")
        h = mx.sym.InstanceNorm(h, name="inorm")
        h = mx.sym.L2Normalization(h, mode="channel", name="l2c")
        h = mx.sym.LayerNorm(h, axis=1, name="lnorm")
        h = mx.sym.FullyConnected(mx.sym.Flatten(h), num_hidden=5, name="fc1")
        h = mx.sym.LayerNorm(mx.sym.L2Normalization(h, name="l2"), name="lnfc")
        sym = mx.sym.SoftmaxOutput(h, name="softmax")
        \(savingCheckpointAndPredictions)
        """

    /// An MXNet checkpoint with grouped (depthwise too) and dilated convolutions and deconvolutions
    /// predicts the same.
    @Test func mxnetsGroupedDilatedAndTransposedConvolutionsPredictTheSameHere() throws {
        try predictsTheSame(Self.groupedConvolutionScript, input: [3, 4, 11, 10], range: 0...1, seed: 8)
    }

    /// Runs `script` (arguments: prefix, input .npy, output .npy; it saves epoch 1 of `prefix`) on a
    /// random input of `shape`, then `swiftps predict` on the same checkpoint: the same to 1e-5.
    func predictsTheSame(_ script: String, input shape: [Int], range: ClosedRange<Float>, seed: UInt64) throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RandomGenerator(seed: seed)
        let input = NDArray(shape: shape)
        rng.fillUniform(input, low: range.lowerBound, high: range.upperBound)
        try AtomicFile.write(NPYFile.encode(input), to: dir + "/in.npy")
        try runMXNet([dir + "/net", dir + "/in.npy", dir + "/mxnet.npy"], in: dir, script: script)
        let ours = try CLIRunner.run([
            "predict", "--model-prefix", dir + "/net", "--load-epoch", "1", "--input", dir + "/in.npy", "--format",
            "npy", "--output", dir + "/swiftps.npy",
        ])
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(try maxDifference(dir + "/mxnet.npy", dir + "/swiftps.npy") < 1e-5)
    }

    @Test func aSwiftPSCheckpointPredictsTheSameInMXNet() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try CLIRunner.run([
            "train", "--network", "lenet", "--lr", "0.01", "--num-epochs", "1", "--num-batches", "20",
            "--model-prefix", dir + "/lenet",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        var rng = RandomGenerator(seed: 6)
        let input = NDArray(shape: [10, 1, 28, 28])
        rng.fillUniform(input, low: 0, high: 1)
        try AtomicFile.write(NPYFile.encode(input), to: dir + "/in.npy")
        try runMXNet(["1", dir + "/lenet", dir + "/in.npy", dir + "/mxnet.npy"], in: dir)
        let ours = try CLIRunner.run([
            "predict", "--model-prefix", dir + "/lenet", "--load-epoch", "1", "--input", dir + "/in.npy", "--format",
            "npy", "--output", dir + "/swiftps.npy",
        ])
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(try maxDifference(dir + "/mxnet.npy", dir + "/swiftps.npy") < 1e-5)
    }
}

/// The Python of the MXNet virtual environment, when MXNet imports there.
enum MXNetPython {
    static let path: String? = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let candidates = [
            ProcessInfo.processInfo.environment["SWIFTPS_MXNET_PYTHON"], root + "/.build-mxnet/bin/python",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}
