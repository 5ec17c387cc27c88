import Foundation

/// A metric value as Python's `%f` prints it: six decimals, `nan`, `inf`, `-inf`.
func formatMetricValue(_ value: Double) -> String { String(format: "%f", value) }
