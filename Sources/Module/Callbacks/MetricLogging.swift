/// A callback logging every value of the metric as `Epoch[%d] Validation-%s=%f`, MXNet 1.x's
/// `mx.callback.LogValidationMetricsCallback`; meant as `fit`'s `eval_end_callback`.
/// `log` defaults to `info` on the `swiftps.metrics` logger.
public func logValidationMetrics(log: ((String) -> Void)? = nil) -> BatchEndCallback {
    let sink = log ?? infoLog(label: "swiftps.metrics")
    return { param in
        guard let metric = param.evalMetric else { return }
        for (name, value) in metric.get() {
            sink("Epoch[\(param.epoch)] Validation-\(name)=\(formatMetricValue(value))")
        }
    }
}

/// A callback logging the metric every `period` batches as `Iter[%d] Batch[%d] Train-%s=%f`,
/// then resetting it when `autoReset` is set, MXNet 1.x's `mx.callback.log_train_metric(period,
/// auto_reset=False)`. Throws when `period` is not positive.
public func logTrainMetric(period: Int, autoReset: Bool = false, log: ((String) -> Void)? = nil) throws
    -> BatchEndCallback
{
    guard period > 0 else { throw CallbackError.invalidArgument("logTrainMetric period must be > 0, got \(period)") }
    let sink = log ?? infoLog(label: "swiftps.metrics")
    return { param in
        guard param.nbatch % period == 0, let metric = param.evalMetric else { return }
        for (name, value) in metric.get() {
            sink("Iter[\(param.epoch)] Batch[\(param.nbatch)] Train-\(name)=\(formatMetricValue(value))")
        }
        if autoReset { metric.reset() }
    }
}
