/// The unrolling of one image's receptive fields into a matrix, so a convolution is one GEMM.
///
/// `col` has `C·kh·kw` rows and `Ho·Wo` columns: row `(c·kh + i)·kw + j` holds, for every output
/// position, the input value under kernel tap (i, j) of channel c (0 in the padding).
struct Im2Col {
    let channels: Int, height: Int, width: Int
    let kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int
    let outH: Int, outW: Int

    /// `C·kh·kw`, the GEMM inner dimension.
    var rows: Int { channels * kernelH * kernelW }
    /// `Ho·Wo`, the output positions.
    var columns: Int { outH * outW }

    /// The range of output columns `ow` whose input column `ow·s − p + j` lies inside the image.
    @inline(__always)
    func validColumns(_ j: Int) -> Range<Int> {
        let a = padW - j
        let lo = a <= 0 ? 0 : (a + strideW - 1) / strideW
        let b = width - 1 + padW - j
        let hi = b < 0 ? 0 : min(outW, b / strideW + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// Fills `col` from image `x` (C×H×W).
    func unroll(_ x: UnsafePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            for i in 0..<kernelH {
                for j in 0..<kernelW {
                    let row = col + ((c * kernelH + i) * kernelW + j) * columns
                    let valid = validColumns(j)
                    for oh in 0..<outH {
                        let dst = row + oh * outW
                        let ih = oh * strideH - padH + i
                        if ih < 0 || ih >= height || valid.isEmpty {
                            dst.update(repeating: 0, count: outW)
                            continue
                        }
                        let src = x + (c * height + ih) * width
                        let shift = j - padW  // input column = ow·s + shift
                        if valid.lowerBound > 0 { dst.update(repeating: 0, count: valid.lowerBound) }
                        if valid.upperBound < outW {
                            (dst + valid.upperBound).update(repeating: 0, count: outW - valid.upperBound)
                        }
                        if strideW == 1 {
                            (dst + valid.lowerBound).update(from: src + (valid.lowerBound + shift), count: valid.count)
                        } else {
                            for ow in valid { dst[ow] = src[ow * strideW + shift] }
                        }
                    }
                }
            }
        }
    }

    /// Adds `col` back into image `dx` (C×H×W), summing overlapping taps: the adjoint of `unroll`.
    func fold(_ col: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            for i in 0..<kernelH {
                for j in 0..<kernelW {
                    let row = col + ((c * kernelH + i) * kernelW + j) * columns
                    let valid = validColumns(j)
                    if valid.isEmpty { continue }
                    for oh in 0..<outH {
                        let ih = oh * strideH - padH + i
                        if ih < 0 || ih >= height { continue }
                        let src = row + oh * outW
                        let dst = dx + (c * height + ih) * width
                        let shift = j - padW
                        if strideW == 1 {
                            for ow in valid { dst[ow + shift] += src[ow] }
                        } else {
                            for ow in valid { dst[ow * strideW + shift] += src[ow] }
                        }
                    }
                }
            }
        }
    }
}
