import CShims

/// A depthwise convolution's filters applied directly, one input plane and one kernel at a time.
///
/// When every group has a single input channel and a single filter (`num_group` = C = num_filter:
/// MobileNet's depthwise layers), im2col + GEMM multiplies a 1-row matrix per filter: the GEMM has
/// nothing to block and the unrolled columns cost more than the arithmetic. The kernels in
/// `CShims/depthwise.c` walk each tap's valid output rows instead, adding the tap times a row segment
/// of the input a whole vector at a time (compiled for AVX-512, AVX2 and the baseline, picked by the
/// CPU). The geometry is that of one group (`channels` is 1).
extension Im2Col {
    /// The plane's window for the C kernels.
    var planeWindow: swiftps_plane_window {
        swiftps_plane_window(
            height: Int32(height), width: Int32(width), out_h: Int32(outH), out_w: Int32(outW),
            kernel_h: Int32(kernelH), kernel_w: Int32(kernelW), stride_h: Int32(strideH), stride_w: Int32(strideW),
            pad_h: Int32(padH), pad_w: Int32(padW), dilate_h: Int32(dilateH), dilate_w: Int32(dilateW))
    }

    /// `y (Ho×Wo) += w ⋆ x` for one plane `x` (H×W) and one kernel `w` (kh×kw).
    func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        var window = planeWindow
        swiftps_depthwise_forward(&window, x, w, y)
    }

    /// `dx (H×W) += wᵀ ⋆ dy`: the data gradient of `depthwiseForward`, added into `dx`.
    func depthwiseData(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        var window = planeWindow
        swiftps_depthwise_data(&window, dy, w, dx)
    }

    /// `dw (kh×kw) += Σ dy · x` over the positions each tap reads: the weight gradient of
    /// `depthwiseForward`, added into `dw`.
    func depthwiseWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        var window = planeWindow
        swiftps_depthwise_weight(&window, dy, x, dw)
    }
}

enum DepthwiseKernels {
    /// For tests: use at most instruction-set level `limit` (2 AVX-512, 1 AVX2 + FMA, 0 the baseline;
    /// nil: the best the CPU has). Returns the level now in use.
    @discardableResult
    static func limit(_ limit: Int?) -> Int { Int(swiftps_depthwise_limit(Int32(limit ?? -1))) }
}
