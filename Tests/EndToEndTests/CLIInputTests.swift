import Foundation
import SwiftPS
import SwiftPSModule
import Testing

/// What a user sees for wrong flags and bad files, through the release binary: a usage error
/// (ArgumentParser's "Error: …" and usage lines, exit 64) for a flag value that is wrong in itself,
/// a last line `swiftps <command>: …` and exit 1 for a file or checkpoint that is missing or
/// damaged; never a crash.
@Suite(.serialized, .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"))
struct CLIInputTests {
    /// Quick training runs: a few batches of one epoch.
    static let quick = ["--num-batches", "2", "--no-progress", "--disp-batches", "1000"]

    /// Runs `args`, expects `status`, no crash report, and each of `words` in standard error.
    @discardableResult
    func expectFailure(_ args: [String], status: Int32, mentioning words: [String], env: [String: String] = [:])
        throws -> String
    {
        let r = try CLIRunner.run(args, timeout: 60, env: env)
        #expect(r.status == status, "swiftps \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrac"), "a crash: \(r.stderr)")
        // A usage error is ArgumentParser's "Error: …" first; any other error is the last line,
        // after the log lines of the run so far.
        let error = status == 64 ? r.stderr : String(r.stderr.split(separator: "\n").last ?? "")
        #expect(error.hasPrefix(status == 64 ? "Error: " : "swiftps "), "no error line in: \(r.stderr)")
        for word in words { #expect(error.contains(word), "'\(word)' missing from: \(r.stderr)") }
        return error
    }

    /// Flag values that are wrong whatever the files: each is refused before any work (negative
    /// numbers too, which ArgumentParser used to read as a missing value), naming the flag.
    @Test func wrongFlagValuesAreUsageErrorsNamingTheFlag() throws {
        let cases: [([String], [String])] = [
            (["train", "--batch-size", "-5"], ["--batch-size -5", "at least 1"]),
            (["train", "--num-epochs", "0"], ["--num-epochs 0"]),
            (["train", "--num-batches", "0"], ["--num-batches 0"]),
            (["train", "--disp-batches", "0"], ["--disp-batches 0"]),
            (["train", "--blas-threads", "0"], ["--blas-threads 0"]),
            (["train", "--lr", "-1"], ["--lr -1"]),
            (["train", "--clip-gradient", "0"], ["--clip-gradient 0", "above 0"]),
            (["train", "--warmup-epochs", "-1"], ["--warmup-epochs -1", "at least 0"]),
            (["train", "--warmup-strategy", "cubic"], ["--warmup-strategy 'cubic'", "linear or constant"]),
            (["train", "--clip-gradient", "-1"], ["--clip-gradient -1", "above 0"]),
            (["train", "--lr-step-epochs", "a,b"], ["--lr-step-epochs", "'a'"]),
            (["train", "--lr-step-epochs", "5,3"], ["--lr-step-epochs", "increase"]),
            (["train", "--lr-step-epochs", "5,,8"], ["--lr-step-epochs '5,,8'", "'' is not"]),
            (["train", "--metrics", "acc,accuracy"], ["--metrics 'acc,accuracy'", "accuracy is asked for twice"]),
            (["train", "--metrics", "top_k_accuracy:3", "--top-k", "3"], ["with --top-k 3", "twice"]),
            (["train", "--optimizer", "adamw"], ["--optimizer 'adamw'", "sgd"]),
            (["train", "--initializer", "glorot"], ["--initializer 'glorot'", "xavier"]),
            (["train", "--metrics", "acc,auc"], ["--metrics 'acc,auc'", "'auc'"]),
            (["train", "--kv-store", "nccl"], ["--kv-store 'nccl'"]),
            (["train", "--network", "resnet"], ["--network 'resnet'"]),
            (["train", "--load-epoch", "1"], ["--model-prefix"]),
            (["train", "--model-prefix", "m", "--resume", "--load-epoch", "1"], ["not both"]),
            (["train", "--model-prefix", "m", "--load-epoch", "2", "--num-epochs", "1"], ["nothing to train"]),
            (["train", "--interleave-shards", "3"], ["--interleave-shards 3"]),
            (["train", "--gc-type", "2bit"], ["--gc-type 2bit", "dist_sync or dist_async"]),
            (["train", "--kv-store", "dist_sync", "--gc-type", "1bit"], ["--gc-type '1bit'", "2bit"]),
            (
                ["train", "--kv-store", "dist_sync", "--gc-type", "2bit", "--gc-threshold", "-1"],
                ["--gc-threshold '-1.0'", "threshold -1"]
            ),
            (
                ["train", "--kv-store", "dist_sync", "--gc-type", "fp16", "--gc-threshold", "1"],
                ["--gc-threshold 1.0", "needs --gc-type 2bit"]
            ),
            (["score", "--model-prefix", "m", "--load-epoch", "1", "--batch-size", "0"], ["--batch-size 0"]),
            (
                ["score", "--model-prefix", "m", "--load-epoch", "1", "--data-dir", "d", "--data-csv", "a"],
                ["--data-dir", "--data-csv"]
            ),
            (
                ["score", "--model-prefix", "m", "--load-epoch", "1", "--label-csv", "l"],
                ["--label-csv needs --data-csv"]
            ),
            (["predict", "--model-prefix", "m", "--load-epoch", "-1", "--input", "-"], ["--load-epoch -1"]),
            (["predict", "--model-prefix", "m", "--load-epoch", "1", "--input", "-", "--top-k", "0"], ["--top-k 0"]),
            (["bench", "gemm", "--repeats", "0"], ["--repeats 0"]),
            (["bench", "train", "--network", "resnet"], ["--network 'resnet'"]),
            (["bench", "train", "--kv-store", "dist_sync", "--epochs", "1"], ["--epochs 1", "swiftps bench train"]),
            (["bench", "train", "--gc-type", "fp16"], ["--gc-type fp16", "dist_sync or dist_async"]),
            (
                ["bench", "train", "--kv-store", "dist_sync", "--gc-type", "fp8"],
                ["--gc-type 'fp8'", "none, 2bit or fp16"]
            ),
            (["bench", "tags", "--floats", "1024,x"], ["--floats", "'x'"]),
            (["launch", "-n", "2", "-s", "-1", "--", "swiftps", "train"], ["-s must be 0 or more"]),
        ]
        for (args, words) in cases { try expectFailure(args, status: 64, mentioning: words) }
        try expectFailure(
            ["train"], status: 64, mentioning: ["SWIFTPS_BLAS_THREADS='two'"], env: ["SWIFTPS_BLAS_THREADS": "two"])
        try expectFailure(
            ["train"], status: 64, mentioning: ["SWIFTPS_BLAS_THREADS='100000'", "from 1 to 1024"],
            env: ["SWIFTPS_BLAS_THREADS": "100000"])
        try expectFailure(
            ["train", "--blas-threads", "5000"], status: 64, mentioning: ["--blas-threads 5000", "1024"])
        try expectFailure(["bench", "train", "--blas-threads", "0"], status: 64, mentioning: ["--blas-threads 0"])
        // Files written only after training are tried first.
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectFailure(
            ["train", "--save-final", dir] + Self.quick, status: 1, mentioning: ["--save-final \(dir) is a directory"])
        try expectFailure(
            ["train", "--timeline", "/proc/swiftps-trace.json"] + Self.quick, status: 1,
            mentioning: ["--timeline /proc/swiftps-trace.json cannot be written"])
        // A log level that is not one, or a CPU latency that is not a number, is said, and the run goes
        // on; so are a drop past the last epoch, and fit.py's --initializer default and --save-period.
        let run = try CLIRunner.run(
            [
                "train", "--num-epochs", "1", "--lr-step-epochs", "1,20", "--initializer", "default", "--save-period",
                "1",
            ]
                + Self.quick, timeout: 120,
            env: ["SWIFTPS_LOG_LEVEL": "loud", "SWIFTPS_CPU_DMA_LATENCY": "fast"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stderr.contains("--lr-step-epochs 1,20: no drop at epoch 1, 20 within --num-epochs 1"), "\(run.stderr)")
        #expect(run.stderr.contains("SWIFTPS_LOG_LEVEL='loud' is not a level"), "\(run.stderr)")
        #expect(
            run.stderr.contains("SWIFTPS_CPU_DMA_LATENCY='fast' is not a whole number of microseconds"), "\(run.stderr)"
        )
    }

    /// Checkpoints that are not there or do not fit the flags, and damaged files: an error line naming
    /// the file or the flag, exit 1. (`--load-epoch` past `--num-epochs` used to trap in `fit`.)
    @Test func missingOrMismatchedCheckpointsAndDamagedFilesNameTheProblem() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/ck/mlp"  // the directory does not exist yet: train makes it
        let made = try CLIRunner.run(["train", "--num-epochs", "2", "--model-prefix", prefix] + Self.quick)
        try #require(made.status == 0, "\(made.stderr)")

        try expectFailure(
            ["train", "--model-prefix", prefix, "--load-epoch", "7", "--num-epochs", "9"] + Self.quick, status: 1,
            mentioning: ["mlp-0007.params", "epochs 1, 2"])
        try expectFailure(
            ["train", "--model-prefix", dir + "/none/x", "--load-epoch", "1", "--num-epochs", "2"] + Self.quick,
            status: 1, mentioning: ["x-0001.params", "no checkpoint under"])
        try expectFailure(
            ["train", "--model-prefix", prefix, "--resume", "--num-epochs", "1"] + Self.quick, status: 1,
            mentioning: ["epoch 2", "past --num-epochs 1"])
        try expectFailure(
            ["train", "--model-prefix", prefix, "--load-epoch", "2", "--num-epochs", "3", "--network", "lenet"]
                + Self.quick, status: 1, mentioning: ["--network lenet", "mlp-0002.params"])

        // A damaged optimizer state (no manifest to catch it first) and a cut symbol file.
        try FileManager.default.removeItem(atPath: prefix + "-0002.manifest.json")
        try Data("junk".utf8).write(to: URL(fileURLWithPath: prefix + "-0002.states"))
        try expectFailure(
            ["train", "--model-prefix", prefix, "--load-epoch", "2", "--num-epochs", "3"] + Self.quick, status: 1,
            mentioning: ["mlp-0002.states"])
        try Data("{\"nodes\": [".utf8).write(to: URL(fileURLWithPath: dir + "/cut.json"))
        try expectFailure(
            ["train", "--network", dir + "/cut.json", "--num-epochs", "1"] + Self.quick, status: 1,
            mentioning: ["cut.json", "not valid JSON"])
        // predict into a directory that does not exist: the file asked for, not a temporary name.
        let out = try expectFailure(
            [
                "predict", "--model-prefix", prefix, "--load-epoch", "1", "--input",
                FashionMNIST.defaultDirectory + "/t10k-images-idx3-ubyte.gz", "--output", dir + "/no/dir/out.csv",
            ], status: 1, mentioning: ["no/dir/out.csv"])
        #expect(!out.contains(".tmp."), "\(out)")
        // A metrics file that cannot be written fails the run before it trains, naming it; it used
        // to be logged at every epoch and the run exited 0.
        let metrics = try expectFailure(
            ["train", "--num-epochs", "1", "--metrics-out", dir] + Self.quick, status: 1,
            mentioning: [dir, "Is a directory"])
        #expect(!metrics.contains("Epoch[0]"), "it trained first: \(metrics)")
    }

    /// `--clip-gradient` and `--warmup-epochs` reach the optimizer: clipped to 1e-30, or held at a
    /// warm-up rate of 0 (constant strategy) for the whole epoch, the 20 steps move nothing and the
    /// model stays at chance; a linear warm-up and the plain run learn.
    @Test func clipGradientAndWarmupShapeEveryStep() throws {
        func accuracy(_ extra: [String]) throws -> Double {
            let run = try CLIRunner.run(
                ["train", "--num-epochs", "1", "--num-batches", "20", "--no-progress"] + extra, timeout: 120)
            try #require(run.status == 0, "\(run.stderr)")
            let line = try #require(
                run.text.split(separator: "\n").first { $0.hasPrefix("final validation accuracy") })
            return try #require(Double(line.split(separator: " ")[3]))
        }
        let clipped = try accuracy(["--clip-gradient", "1e-30"])
        let held = try accuracy(["--warmup-epochs", "1", "--warmup-strategy", "constant"])
        let ramped = try accuracy(["--warmup-epochs", "1"])
        let free = try accuracy([])
        #expect(clipped < 0.3, "clipped to 1e-30 the model learned: \(clipped)")
        #expect(held < 0.3, "at a warm-up rate of 0 the model learned: \(held)")
        #expect(ramped > 0.3 && ramped != free, "a linear warm-up: \(ramped), without: \(free)")
        #expect(free > 0.5, "unclipped the model did not learn: \(free)")
    }

    /// Resuming from a checkpoint without optimizer state (MXNet's, or one whose `.states` is gone), the
    /// update count starts at the resumed epoch's (MXNet's `begin_num_update`): the `--lr-step-epochs`
    /// steps already passed apply at once. With a drop to almost nothing at epoch 1, the resumed epoch
    /// must leave the weights where they were (before, it trained at the full rate). `--top-k` adds
    /// fit.py's top-k accuracy.
    @Test func aStatelessResumeContinuesTheLearningRateSchedule() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flags = [
            "--num-batches", "5", "--no-progress", "--model-prefix", dir + "/ck", "--lr-step-epochs", "1",
            "--lr-factor", "1e-30",
        ]
        let first = try CLIRunner.run(["train", "--num-epochs", "1"] + flags, timeout: 120)
        try #require(first.status == 0, "\(first.stderr)")
        for file in ["ck-0001.states", "ck-0001.manifest.json"] {
            try FileManager.default.removeItem(atPath: "\(dir)/\(file)")
        }
        let resumed = try CLIRunner.run(
            ["train", "--load-epoch", "1", "--num-epochs", "2", "--top-k", "3"] + flags, timeout: 120)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stderr.contains("the optimizer starts fresh at epoch 1: learning rate 1e-31"), "\(resumed.stderr)")
        #expect(resumed.stderr.contains("Validation-top_k_accuracy_3="), "\(resumed.stderr)")
        try Self.expectUnmoved(dir + "/ck", from: 1, to: 2, "at a rate of 1e-31")
        let badTopK = try CLIRunner.run(["train", "--top-k", "1"], timeout: 30)
        #expect(badTopK.status == 64 && badTopK.stderr.contains("--top-k 1"), "\(badTopK.stderr)")
    }

    /// The update count stays one from epoch 0 whatever the resumes: a stateless resume at epoch 1 (its
    /// count begins at epoch 1's), then a resume with the state it saved, at epoch 2, where the rate
    /// drops to almost nothing. That epoch must leave the weights where they were; a count begun at
    /// the first resume, read as one begun at epoch 0 (or a count begun at 0 for want of a saved
    /// state: plain SGD keeps none), trained it at the full rate.
    @Test func aSecondResumeKeepsTheScheduleOfTheFirst() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flags = [
            "--num-batches", "5", "--no-progress", "--model-prefix", dir + "/ck", "--lr-step-epochs", "2",
            "--lr-factor", "1e-30", "--mom", "0",  // no momentum to carry the full rate's steps past the drop
        ]
        let first = try CLIRunner.run(["train", "--num-epochs", "1"] + flags, timeout: 120)
        try #require(first.status == 0, "\(first.stderr)")
        for file in ["ck-0001.states", "ck-0001.manifest.json"] {
            try FileManager.default.removeItem(atPath: "\(dir)/\(file)")
        }
        let fresh = try CLIRunner.run(["train", "--load-epoch", "1", "--num-epochs", "2"] + flags, timeout: 120)
        try #require(fresh.status == 0, "\(fresh.stderr)")
        let again = try CLIRunner.run(["train", "--resume", "--num-epochs", "3"] + flags, timeout: 120)
        try #require(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("resuming from \(dir)/ck-0002.params at epoch 2"), "\(again.stderr)")
        #expect(!again.stderr.contains("already holds checkpoints"), "resuming is no new run: \(again.stderr)")
        try Self.expectUnmoved(dir + "/ck", from: 2, to: 3, "in epoch 2, past the drop at epoch 2")
        // A run from scratch under the same prefix is told what it will write over, and why it matters.
        let over = try CLIRunner.run(["train", "--num-epochs", "1"] + flags, timeout: 120)
        try #require(over.status == 0, "\(over.stderr)")
        #expect(
            over.stderr.contains("--model-prefix \(dir)/ck already holds checkpoints (2, epochs 2 to 3)")
                && over.stderr.contains("until it passes epoch 3, --resume would take the earlier run's"),
            "\(over.stderr)")
    }

    /// A checkpoint records its update count, and a run resumed with its optimizer state but another
    /// number of batches per epoch places the schedule's epochs from that count: the drop at epoch 3
    /// falls after epoch 2's five updates (at 25), not at 3 x 5 = 15, which the restored count of 20
    /// had passed already (epoch 2 then did not train).
    @Test func aResumeWithAnotherEpochLengthDropsAtTheEpochAsked() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flags = [
            "--no-progress", "--model-prefix", dir + "/ck", "--lr-step-epochs", "3", "--lr-factor", "1e-30",
            "--optimizer", "adam", "--lr", "0.001",
        ]
        let first = try CLIRunner.run(["train", "--num-epochs", "2", "--num-batches", "10"] + flags, timeout: 120)
        try #require(first.status == 0, "\(first.stderr)")
        #expect(try CheckpointManifest.read(CheckpointLayout(prefix: dir + "/ck", epoch: 2)).updates == 20)
        let resumed = try CLIRunner.run(
            ["train", "--resume", "--num-epochs", "4", "--num-batches", "5"] + flags, timeout: 120)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("was written after 20 updates, not 2 x 5"), "\(resumed.stderr)")
        #expect(try CheckpointManifest.read(CheckpointLayout(prefix: dir + "/ck", epoch: 4)).updates == 30)
        let name = { (epoch: Int) in dir + "/ck-" + String(format: "%04d", epoch) + ".params" }
        let before = try ParamsFile.loadCheckpointParams(name(2)).args
        let after = try ParamsFile.loadCheckpointParams(name(3)).args
        let moved = before.map { (try? #require(after[$0.key]).maxAbsDifference($0.value)) ?? 0 }.max() ?? 0
        #expect(moved > 1e-5, "epoch 2 trains at the full rate (moved \(moved))")
        try Self.expectUnmoved(dir + "/ck", from: 3, to: 4, "in epoch 3, past the drop at epoch 3")
    }

    /// Expects checkpoint `to` of `prefix` to hold the weights of checkpoint `from` (a rate of ~0).
    static func expectUnmoved(_ prefix: String, from: Int, to: Int, _ why: String) throws {
        let name = { (epoch: Int) in prefix + "-" + String(format: "%04d", epoch) + ".params" }
        let before = try ParamsFile.loadCheckpointParams(name(from)).args
        let after = try ParamsFile.loadCheckpointParams(name(to)).args
        for (name, weights) in before {
            let moved = try #require(after[name]).maxAbsDifference(weights)
            #expect(moved < 1e-6, "\(name) moved by \(moved) \(why)")
        }
    }

    /// `--version` names the build's wire protocol, which the scheduler compares at rendezvous: what
    /// to compare across hosts when it refuses a node of another build.
    @Test func versionNamesTheWireProtocol() throws {
        let run = try CLIRunner.run(["--version"])
        #expect(run.status == 0)
        #expect(
            run.text.trimmingCharacters(in: .whitespacesAndNewlines)
                == "\(swiftPSVersion) (wire protocol \(NodeInfo.wireProtocol))")
    }

    /// A cluster worker (`DMLC_ROLE=worker`, as `swiftps launch` sets it) with the default local
    /// kvstore is refused at once with the fix, where it used to train alone while the scheduler
    /// waited for it until the rendezvous deadline.
    @Test func aClusterWorkerWithALocalKVStoreIsRefused() throws {
        try expectFailure(
            ["train", "--num-epochs", "1"] + Self.quick, status: 1,
            mentioning: ["cluster worker (DMLC_ROLE=worker", "--kv-store is local", "pass --kv-store dist_sync"],
            env: ["DMLC_ROLE": "worker", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "1"])
    }

    /// A batch larger than the worker's training set trains (MXNet's iterators pad it too) but says
    /// what it amounts to: one padded batch per epoch.
    @Test func aBatchLargerThanTheDataSetIsSaid() throws {
        let run = try CLIRunner.run(
            ["train", "--batch-size", "70000", "--num-epochs", "1", "--no-progress"], timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(
            run.stderr.contains(
                "--batch-size 70000 is more than the 60000 training samples of worker 0: each epoch is one batch, padded with 10000 repeated samples"
            ), "\(run.stderr.suffix(2000))")
    }

    /// A batch this machine cannot hold is an error naming the array and saying to lower the batch
    /// size, before training; it used to end in the allocator's abort. (A batch whose data fits but
    /// whose activations do not is refused at bind: SymbolTests.)
    @Test func aBatchTooLargeForMemoryIsAnError() throws {
        let batch = String(ProcessInfo.processInfo.physicalMemory / (784 * 4) + 1)
        try expectFailure(
            ["train", "--batch-size", batch, "--num-epochs", "1", "--no-progress"], status: 1,
            mentioning: ["MNISTIter: a batch of \(batch) samples of 'data'", "lower the batch size"])
    }

    /// Under a control group's memory limit (a container's `--memory`, Slurm's `--mem`) the machine
    /// shows more memory than the job may use: a batch over the limit, or a lenet whose batch fits but
    /// whose activations do not, is an error naming the group, where the kernel used to kill the
    /// process (status 137, no message); a batch that fits trains.
    @Test(.enabled(if: MemoryCgroup.available, "needs root and a cgroup memory controller"))
    func aBatchOverTheControlGroupsMemoryLimitIsAnError() throws {
        let group = try MemoryCgroup(limitBytes: 400_000_000)
        defer { group.remove() }
        let limit =
            "more than the 400.0 MB memory limit of control group /\(group.directory.split(separator: "/").last!)"
        let data = try CLIRunner.run(
            ["train", "--batch-size", "200000", "--num-epochs", "1", "--no-progress"], timeout: 300,
            wrapper: group.wrapper)
        #expect(data.status == 1, "\(data.stderr.suffix(2000))")
        #expect(
            data.stderr.contains(
                "MNISTIter: a batch of 200000 samples of 'data' (shape (200000, 784)) needs 627.2 MB, \(limit)"),
            "\(data.stderr.suffix(2000))")
        let network = try CLIRunner.run(
            ["train", "--network", "lenet", "--batch-size", "20000", "--num-epochs", "1", "--no-progress"],
            timeout: 300, wrapper: group.wrapper)
        #expect(network.status == 1, "\(network.stderr.suffix(2000))")
        #expect(
            network.stderr.contains(
                "the network at this batch size needs 5.7 GB for its arrays and activations, \(limit)"),
            "\(network.stderr.suffix(2000))")
        let fits = try CLIRunner.run(["train", "--num-epochs", "1"] + Self.quick, timeout: 300, wrapper: group.wrapper)
        #expect(fits.status == 0, "\(fits.stderr.suffix(2000))")
    }

    /// A learning rate that overflows the weights: the run stops at the end of the first epoch,
    /// naming the parameters, instead of training NaN weights to the last epoch; and it writes no
    /// checkpoint of them, so `--resume` would find none.
    @Test func aDivergedRunStopsAtTheEpochEndWithoutACheckpoint() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectFailure(
            ["train", "--lr", "1000", "--num-epochs", "3", "--model-prefix", dir + "/mlp", "--num-batches", "20"]
                + ["--no-progress", "--disp-batches", "1000"], status: 1,
            mentioning: ["training diverged: after epoch 0", "fc1_weight", "lower the learning rate"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("mlp") }.isEmpty)
    }

    /// Resuming takes the checkpoint's network (a lenet checkpoint resumed without `--network` used
    /// to get flat mlp batches), and a symbol JSON's input shape decides flat or image batches (a
    /// network whose convolutions are not named conv* used to get flat batches). Output files land in
    /// directories made for them.
    @Test func theNetworkDecidesTheBatchShapeAndOutputDirectoriesAreMade() throws {
        let dir = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try CLIRunner.run(
            ["train", "--network", "lenet", "--num-epochs", "1", "--model-prefix", dir + "/lenet"] + Self.quick)
        try #require(first.status == 0, "\(first.stderr)")
        let resumed = try CLIRunner.run(
            ["train", "--model-prefix", dir + "/lenet", "--load-epoch", "1", "--num-epochs", "2"] + Self.quick)
        #expect(resumed.status == 0, "\(resumed.stderr)")

        let symbol = try String(contentsOfFile: dir + "/lenet-symbol.json", encoding: .utf8)
        try symbol.replacingOccurrences(of: "conv", with: "c").write(
            toFile: dir + "/renamed.json", atomically: true, encoding: .utf8)
        let renamed = try CLIRunner.run(
            [
                "train", "--network", dir + "/renamed.json", "--num-epochs", "1", "--metrics-out",
                dir + "/m/metrics.jsonl", "--save-final", dir + "/f/final.params",
            ] + Self.quick)
        #expect(renamed.status == 0, "\(renamed.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/m/metrics.jsonl"))
        #expect(FileManager.default.fileExists(atPath: dir + "/f/final.params"))

        // A prefix ending in "/" names files inside that directory, as MXNet's (`ck/-0001.params`):
        // the directory is made before training, and --resume finds the checkpoint there.
        let slash = try CLIRunner.run(["train", "--num-epochs", "1", "--model-prefix", dir + "/ck/"] + Self.quick)
        try #require(slash.status == 0, "\(slash.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/ck/-0001.params"))
        #expect(FileManager.default.fileExists(atPath: dir + "/ck/-0001.manifest.json"))
        let again = try CLIRunner.run(
            ["train", "--num-epochs", "2", "--model-prefix", dir + "/ck/", "--resume"] + Self.quick)
        #expect(again.status == 0 && again.stderr.contains("at epoch 1"), "\(again.stderr)")
    }
}

/// `swiftps train` on a terminal (a pseudo-terminal from util-linux's `script`): the progress bar is
/// redrawn in place (each state ends in a carriage return, never a new line), and the Speedometer's
/// lines still come every `--disp-batches`.
@Suite(
    .enabled(if: CLIRunner.available, "needs the release swiftps binary (scripts/test builds it)"),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs util-linux's script"))
struct TerminalProgressTests {
    @Test func theBarRedrawsInPlaceBesideTheSpeedometer() throws {
        let binary = try #require(CLIRunner.binary)
        let train = [
            binary, "train", "--network", "mlp", "--num-epochs", "1", "--num-batches", "30", "--disp-batches", "10",
            "--blas-threads", "1",
        ]
        let command = try LaunchCommand(["/usr/bin/script", "-qec", train.joined(separator: " "), "/dev/null"])
        defer { command.kill() }
        let result = try #require(command.wait(deadline: .seconds(120)), "train on a terminal did not finish")
        #expect(result.status == 0, "\(result.standardOutput)")
        let screen = command.standardOutputData
        let text = String(decoding: screen, as: UTF8.self)
        // One state per batch, 0% to 100%, each followed by another state or a log line, not a new line.
        let states = text.components(separatedBy: "%\r").count - 1
        #expect(states >= 30, "\(states) bar states in:\n\(text.prefix(3000))")
        #expect(!text.contains("%\r\r\n") && !text.contains("%\r\n") && !text.contains("%\n"), "\(text.prefix(3000))")
        #expect(text.contains("%\r[="), "the bar is not redrawn in place:\n\(text.prefix(3000))")
        for window in ["Batch [0-10]", "Batch [10-20]"] {
            #expect(text.contains(window), "no Speedometer line '\(window)' on a terminal:\n\(text.prefix(3000))")
        }
    }
}
