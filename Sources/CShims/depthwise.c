// A depthwise convolution's three passes over one plane, for `Depthwise.swift`: plain loops over
// row segments, compiled for AVX-512, AVX2 + FMA and the baseline and picked by what the CPU has,
// so that the short rows of a depthwise layer are added a whole vector at a time (Swift code here is
// compiled for the x86-64 baseline, SSE2).
#include "cshims.h"
#include <stdatomic.h>

// The output columns [lo, hi) of tap column j whose input column ow*stride - pad + j*dilate lies in
// [0, size); the same for rows.
static inline __attribute__((always_inline)) void valid_range(
    int32_t size, int32_t out, int32_t stride, int32_t pad, int32_t offset, int32_t *lo, int32_t *hi) {
    int32_t a = pad - offset;
    int32_t l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int32_t b = size - 1 + pad - offset;
    int32_t h = b < 0 ? 0 : (b / stride + 1 < out ? b / stride + 1 : out);
    *lo = l;
    *hi = l < h ? h : l;
}

// Walks every tap (i, j) and output row whose input row is inside the plane: `in` is the input
// under the first valid output column, `o` that output position, `n` the valid columns.
#define FOR_EACH_SEGMENT(g, BODY)                                                                      \
    for (int32_t i = 0; i < (g)->kernel_h; i++) {                                                      \
        int32_t r0, r1;                                                                                \
        valid_range((g)->height, (g)->out_h, (g)->stride_h, (g)->pad_h, i * (g)->dilate_h, &r0, &r1);  \
        for (int32_t j = 0; j < (g)->kernel_w; j++) {                                                  \
            int32_t c0, c1;                                                                            \
            valid_range((g)->width, (g)->out_w, (g)->stride_w, (g)->pad_w, j * (g)->dilate_w, &c0, &c1); \
            if (c0 >= c1) continue;                                                                    \
            const int32_t tap = i * (g)->kernel_w + j, n = c1 - c0;                                    \
            for (int32_t oh = r0; oh < r1; oh++) {                                                     \
                const ptrdiff_t in = (ptrdiff_t)(oh * (g)->stride_h - (g)->pad_h + i * (g)->dilate_h) *  \
                                         (g)->width +                                                  \
                                     c0 * (g)->stride_w + j * (g)->dilate_w - (g)->pad_w;              \
                const ptrdiff_t o = (ptrdiff_t)oh * (g)->out_w + c0;                                   \
                BODY                                                                                   \
            }                                                                                          \
        }                                                                                              \
    }

// forward: y += w ⋆ x, each output segment from a (strided) input segment; `adjoint`: its data
// gradient dx += wᵀ ⋆ dy, each output-gradient segment added back into the (strided) input.
static inline __attribute__((always_inline)) void axpy_body(
    const swiftps_plane_window *g, const float *restrict from, const float *restrict w, float *restrict to,
    int adjoint) {
    const int32_t s = g->stride_w;
    FOR_EACH_SEGMENT(g, {
        const float wv = w[tap];
        const float *restrict src = from + (adjoint ? o : in);
        float *restrict dst = to + (adjoint ? in : o);
        if (s == 1) {
            for (int32_t k = 0; k < n; k++) dst[k] += wv * src[k];
        } else if (adjoint) {
            for (int32_t k = 0; k < n; k++) dst[k * s] += wv * src[k];
        } else {
            for (int32_t k = 0; k < n; k++) dst[k] += wv * src[k * s];
        }
    })
}

static inline __attribute__((always_inline)) void forward_body(
    const swiftps_plane_window *g, const float *restrict x, const float *restrict w, float *restrict y) {
    axpy_body(g, x, w, y, 0);
}

static inline __attribute__((always_inline)) void data_body(
    const swiftps_plane_window *g, const float *restrict dy, const float *restrict w, float *restrict dx) {
    axpy_body(g, dy, w, dx, 1);
}

// Per tap, the products are summed in eight running lanes (kept in a register, so that they
// vectorize without reassociating a sum) and one for the columns past the last eight, over every
// row, then added up once.
static inline __attribute__((always_inline)) void weight_body(
    const swiftps_plane_window *g, const float *restrict dy, const float *restrict x, float *restrict dw) {
    const int32_t s = g->stride_w;
    for (int32_t i = 0; i < g->kernel_h; i++) {
        int32_t r0, r1;
        valid_range(g->height, g->out_h, g->stride_h, g->pad_h, i * g->dilate_h, &r0, &r1);
        if (r0 >= r1) continue;
        for (int32_t j = 0; j < g->kernel_w; j++) {
            int32_t c0, c1;
            valid_range(g->width, g->out_w, g->stride_w, g->pad_w, j * g->dilate_w, &c0, &c1);
            if (c0 >= c1) continue;
            const int32_t n = c1 - c0, body = s == 1 ? n & ~7 : 0;
            float lanes[8] = {0}, rest = 0;
            for (int32_t oh = r0; oh < r1; oh++) {
                const float *restrict a = dy + (ptrdiff_t)oh * g->out_w + c0;
                const float *restrict b = x + (ptrdiff_t)(oh * g->stride_h - g->pad_h + i * g->dilate_h) * g->width +
                                          c0 * s + j * g->dilate_w - g->pad_w;
                for (int32_t k = 0; k < body; k += 8)
                    for (int l = 0; l < 8; l++) lanes[l] += a[k + l] * b[k + l];
                for (int32_t k = body; k < n; k++) rest += a[k] * b[k * s];
            }
            float sum = rest;
            for (int l = 0; l < 8; l++) sum += lanes[l];
            dw[i * g->kernel_w + j] += sum;
        }
    }
}

#define VARIANTS(name, body, A, B, C)                                                                  \
    static void name##_baseline(const swiftps_plane_window *g, const float *A, const float *B, float *C) { \
        body(g, A, B, C);                                                                              \
    }                                                                                                  \
    __attribute__((target("avx2,fma"))) static void name##_avx2(                                       \
        const swiftps_plane_window *g, const float *A, const float *B, float *C) {                     \
        body(g, A, B, C);                                                                              \
    }                                                                                                  \
    __attribute__((target("avx512f,avx512vl,avx2,fma"))) static void name##_avx512(                    \
        const swiftps_plane_window *g, const float *A, const float *B, float *C) {                     \
        body(g, A, B, C);                                                                              \
    }

#if defined(__x86_64__)
VARIANTS(forward, forward_body, x, w, y)
VARIANTS(data, data_body, dy, w, dx)
VARIANTS(weight, weight_body, dy, x, dw)

// 2: AVX-512, 1: AVX2 with FMA, 0: the baseline; what the CPU has, at most the ceiling a test set.
static _Atomic int ceiling = 2;
static int detected(void) {
    static _Atomic int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? 2
                 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")    ? 1
                                                                                      : 0;
    }
    return cached;
}
static int level(void) {
    int d = detected(), c = ceiling;
    return c < d ? c : d;
}
int swiftps_depthwise_limit(int32_t limit) {
    ceiling = limit < 0 ? 2 : limit;
    return level();
}
#define DISPATCH(name, a, b, c)                                                                        \
    switch (level()) {                                                                                 \
    case 2: name##_avx512(g, a, b, c); return;                                                         \
    case 1: name##_avx2(g, a, b, c); return;                                                           \
    default: name##_baseline(g, a, b, c); return;                                                      \
    }
#else
#define DISPATCH(name, a, b, c) name##_body(g, a, b, c)
int swiftps_depthwise_limit(int32_t limit) {
    (void)limit;
    return 0;
}
#endif

void swiftps_depthwise_forward(const swiftps_plane_window *g, const float *x, const float *w, float *y) {
    DISPATCH(forward, x, w, y)
}

void swiftps_depthwise_data(const swiftps_plane_window *g, const float *dy, const float *w, float *dx) {
    DISPATCH(data, dy, w, dx)
}

void swiftps_depthwise_weight(const swiftps_plane_window *g, const float *dy, const float *x, float *dw) {
    DISPATCH(weight, dy, x, dw)
}
