import SwiftPSTensor

/// im2col over whole padded rows, for a stride-1 convolution with padding.
///
/// Plain im2col copies, for every channel and tap, each output row's valid columns and zeroes the
/// rest: rows of 14 floats at 14×14, where the copying costs more than the small-channel GEMM it
/// feeds (a third of a small ResNet's step). Here the image is first copied once into a zero-bordered
/// buffer, `paddedHeight × paddedWidth` per channel, and the output is computed `outH ×
/// paddedWidth` wide: the columns past `outW` of each row are garbage, dropped when the output is
/// written (and given a zero gradient in backward, so they add nothing). Then every tap's patch
/// is one contiguous run of the padded image, `outH · paddedWidth` long, copied (or, in backward,
/// added back) in one piece. The GEMM does `paddedWidth / outW` of the work, so the layout is used
/// only where that is at most 5/4.
struct WideRows {
    let g: Im2Col
    let paddedHeight: Int, paddedWidth: Int

    /// The layout for `g`, or nil when the plain one is better (a stride, no padding, or too many
    /// garbage columns).
    init?(_ g: Im2Col) {
        guard g.strideH == 1, g.strideW == 1, g.padH > 0 || g.padW > 0 else { return nil }
        let width = g.width + 2 * g.padW
        guard (width - g.outW) * 4 <= g.outW else { return nil }
        self.g = g
        paddedWidth = width
        paddedHeight = g.height + 2 * g.padH
    }

    /// Columns of the wide output: `outH · paddedWidth`.
    var columns: Int { g.outH * paddedWidth }
    /// One channel of the padded image.
    var plane: Int { paddedHeight * paddedWidth }
    /// The padded image of one group, with room past its end for the last tap's run.
    var paddedCount: Int { g.channels * plane + (g.kernelW - 1) * g.dilateW }

    /// The offset in the padded image of channel `c`'s tap (i, j): where its run starts.
    @inline(__always)
    private func tap(_ c: Int, _ i: Int, _ j: Int) -> Int { c * plane + i * g.dilateH * paddedWidth + j * g.dilateW }

    /// Copies image `x` (channels × height × width) inside the zero border of `padded`, whose border
    /// must be zero (it is never written).
    func pad(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        for c in 0..<g.channels {
            for h in 0..<g.height {
                copyFloats(
                    x + (c * g.height + h) * g.width, padded + c * plane + (h + g.padH) * paddedWidth + g.padW, g.width)
            }
        }
    }

    /// Fills `col` (rows × `columns`) from the padded image: one run per channel and tap.
    func unroll(_ padded: UnsafePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        var row = col
        for c in 0..<g.channels {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    row.update(from: padded + tap(c, i, j), count: columns)
                    row += columns
                }
            }
        }
    }

    /// Adds `col` back into the zeroed `padded` (the adjoint of `unroll`), then the padded image's
    /// interior into `dx` (channels × height × width).
    func fold(_ col: UnsafePointer<Float>, _ padded: UnsafeMutablePointer<Float>, into dx: UnsafeMutablePointer<Float>)
    {
        padded.update(repeating: 0, count: paddedCount)
        var row = col
        for c in 0..<g.channels {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    Kernels.addInPlace(columns, row, padded + tap(c, i, j))
                    row += columns
                }
            }
        }
        for c in 0..<g.channels {
            for h in 0..<g.height {
                addFloats(
                    padded + c * plane + (h + g.padH) * paddedWidth + g.padW, dx + (c * g.height + h) * g.width, g.width
                )
            }
        }
    }

    /// Writes the `filters` wide output rows of `wide` into `y` (filters × outH × outW), dropping the
    /// garbage columns; with `bias`, adds each filter's.
    func narrow(
        _ wide: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, filters: Int, bias: UnsafePointer<Float>?
    ) {
        for f in 0..<filters {
            for oh in 0..<g.outH {
                let src = wide + f * columns + oh * paddedWidth
                let dst = y + (f * g.outH + oh) * g.outW
                if let bias {
                    let b = bias[f]
                    for ow in 0..<g.outW { dst[ow] = src[ow] + b }
                } else {
                    copyFloats(src, dst, g.outW)
                }
            }
        }
    }

    /// Writes the output gradient `dy` (filters × outH × outW) wide into `wide`, zero in the garbage
    /// columns, so that they add nothing to the weight or data gradient.
    func widen(_ dy: UnsafePointer<Float>, into wide: UnsafeMutablePointer<Float>, filters: Int) {
        for f in 0..<filters {
            for oh in 0..<g.outH {
                let dst = wide + f * columns + oh * paddedWidth
                copyFloats(dy + (f * g.outH + oh) * g.outW, dst, g.outW)
                (dst + g.outW).update(repeating: 0, count: paddedWidth - g.outW)
            }
        }
    }
}
