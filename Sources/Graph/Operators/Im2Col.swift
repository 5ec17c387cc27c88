/// The unrolling of one image's receptive fields into a matrix, so a convolution is one GEMM.
///
/// `col` has `C·kh·kw` rows and `Ho·Wo` columns: row `(c·kh + i)·kw + j` holds, for every output
/// position, the input value under kernel tap (i, j) of channel c (0 in the padding). Tap (i, j) of
/// output (oh, ow) reads input (oh·sh − ph + i·dh, ow·sw − pw + j·dw), d the dilation.
struct Im2Col {
    let channels: Int, height: Int, width: Int
    let kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padH: Int, padW: Int
    let outH: Int, outW: Int
    var dilateH = 1, dilateW = 1

    /// `C·kh·kw`, the GEMM inner dimension.
    var rows: Int { channels * kernelH * kernelW }
    /// `Ho·Wo`, the output positions.
    var columns: Int { outH * outW }

    /// No padding and stride 1 (lenet's convolutions): every tap reads a plain Ho×Wo block.
    var isDense: Bool { padH == 0 && padW == 0 && strideH == 1 && strideW == 1 }

    /// The range of output columns `ow` whose input column `ow·s − p + j·d` lies inside the image.
    @inline(__always)
    func validColumns(_ j: Int) -> Range<Int> {
        let a = padW - j * dilateW
        let lo = a <= 0 ? 0 : (a + strideW - 1) / strideW
        let b = width - 1 + padW - j * dilateW
        let hi = b < 0 ? 0 : min(outW, b / strideW + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// The range of output rows `oh` whose input row `oh·s − p + i·d` lies inside the image.
    @inline(__always)
    func validRows(_ i: Int) -> Range<Int> {
        let a = padH - i * dilateH
        let lo = a <= 0 ? 0 : (a + strideH - 1) / strideH
        let b = height - 1 + padH - i * dilateH
        let hi = b < 0 ? 0 : min(outH, b / strideH + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// Fills `col` from image `x` (C×H×W).
    ///
    /// Every element of `col` is written once: padding taps get 0, the rest are copied row segment by
    /// row segment (four floats at a time when the horizontal stride is 1).
    func unroll(_ x: UnsafePointer<Float>, into col: UnsafeMutablePointer<Float>) {
        if isDense {
            // No padding, stride 1: row (c, i, j) is the Ho×Wo block of plane c at offset (i·dh, j·dw).
            var row = col
            for c in 0..<channels {
                for i in 0..<kernelH {
                    for j in 0..<kernelW {
                        var src = x + ((c &* height &+ i &* dilateH) &* width &+ j &* dilateW)
                        var dst = row
                        for _ in 0..<outH {
                            copyFloats(src, dst, outW)
                            src += width
                            dst += outW
                        }
                        row += columns
                    }
                }
            }
            return
        }
        for c in 0..<channels {
            let plane = x + c * height * width
            for i in 0..<kernelH {
                let rowsIn = validRows(i)
                for j in 0..<kernelW {
                    let row = col + ((c * kernelH + i) * kernelW + j) * columns
                    let valid = validColumns(j)
                    if rowsIn.isEmpty || valid.isEmpty {
                        row.update(repeating: 0, count: columns)
                        continue
                    }
                    if rowsIn.lowerBound > 0 { row.update(repeating: 0, count: rowsIn.lowerBound * outW) }
                    if rowsIn.upperBound < outH {
                        (row + rowsIn.upperBound * outW).update(repeating: 0, count: (outH - rowsIn.upperBound) * outW)
                    }
                    let shift = j * dilateW - padW  // input column = ow·s + shift
                    let left = valid.lowerBound
                    for oh in rowsIn {
                        let dst = row + oh * outW
                        let src = plane + (oh * strideH - padH + i * dilateH) * width
                        for ow in 0..<left { dst[ow] = 0 }
                        for ow in valid.upperBound..<outW { dst[ow] = 0 }
                        if strideW == 1 {
                            copyFloats(src + (left + shift), dst + left, valid.count)
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
        if isDense {
            var row = col
            for c in 0..<channels {
                for i in 0..<kernelH {
                    for j in 0..<kernelW {
                        var dst = dx + ((c &* height &+ i &* dilateH) &* width &+ j &* dilateW)
                        var src = row
                        for _ in 0..<outH {
                            addFloats(src, dst, outW)
                            src += outW
                            dst += width
                        }
                        row += columns
                    }
                }
            }
            return
        }
        for c in 0..<channels {
            let plane = dx + c * height * width
            for i in 0..<kernelH {
                let rowsIn = validRows(i)
                if rowsIn.isEmpty { continue }
                for j in 0..<kernelW {
                    let row = col + ((c * kernelH + i) * kernelW + j) * columns
                    let valid = validColumns(j)
                    if valid.isEmpty { continue }
                    let shift = j * dilateW - padW
                    for oh in rowsIn {
                        let src = row + oh * outW
                        let dst = plane + (oh * strideH - padH + i * dilateH) * width
                        if strideW == 1 {
                            addFloats(src + valid.lowerBound, dst + (valid.lowerBound + shift), valid.count)
                        } else {
                            for ow in valid { dst[ow * strideW + shift] += src[ow] }
                        }
                    }
                }
            }
        }
    }
}

/// Copies `n` floats from `src` to `dst` (not overlapping) four at a time: for the short row
/// segments of im2col this beats a call to `memmove` per segment.
@inline(__always)
func copyFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var s = UnsafeRawPointer(src)
    var d = UnsafeMutableRawPointer(dst)
    var left = n
    while left >= 4 {
        d.storeBytes(of: s.loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        s += 16
        d += 16
        left &-= 4
    }
    while left > 0 {
        d.storeBytes(of: s.load(as: Float.self), as: Float.self)
        s += 4
        d += 4
        left &-= 1
    }
}

/// `dst[k] += src[k]` for `k < n`, four at a time (the row segments of col2im).
@inline(__always)
func addFloats(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var s = UnsafeRawPointer(src)
    var d = UnsafeMutableRawPointer(dst)
    var left = n
    while left >= 4 {
        let sum = d.loadUnaligned(as: SIMD4<Float>.self) + s.loadUnaligned(as: SIMD4<Float>.self)
        d.storeBytes(of: sum, as: SIMD4<Float>.self)
        s += 16
        d += 16
        left &-= 4
    }
    while left > 0 {
        d.storeBytes(of: d.load(as: Float.self) + s.load(as: Float.self), as: Float.self)
        s += 4
        d += 4
        left &-= 1
    }
}
