// A depthwise convolution's three passes over one plane, for `Depthwise.swift`: plain loops over
// row segments, compiled for AVX-512, AVX2 + FMA and the baseline and picked by what the CPU has,
// so that the short rows of a depthwise layer are added a whole vector at a time (Swift code here is
// compiled for the x86-64 baseline, SSE2). Every loop reads and writes contiguously: at a stride
// above 1 through the input split into phases.
#include "cshims.h"
#include <stdlib.h>
#include <string.h>
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

// At a horizontal stride s above 1 the input is first split by column modulo s into s phases, each
// (height × cols, cols = ⌈width / s⌉) holding columns p, p + s, p + 2s, … of every row; a tap's
// valid outputs then read one phase contiguously, so every loop below is a stride-1 loop. Phase p,
// row r, position m is x[r·width + p + m·s] (0 past the row's end).
static inline __attribute__((always_inline)) int32_t phase_cols(const swiftps_plane_window *g) {
    return (g->width + g->stride_w - 1) / g->stride_w;
}

static inline __attribute__((always_inline)) void split_phases(
    const swiftps_plane_window *g, const float *restrict x, float *restrict phases) {
    const int32_t s = g->stride_w, cols = phase_cols(g);
    for (int32_t p = 0; p < s; p++)
        for (int32_t r = 0; r < g->height; r++) {
            float *restrict dst = phases + ((ptrdiff_t)p * g->height + r) * cols;
            const float *restrict src = x + (ptrdiff_t)r * g->width + p;
            const int32_t m1 = (g->width - p + s - 1) / s;
            for (int32_t m = 0; m < m1; m++) dst[m] = src[m * s];
            for (int32_t m = m1; m < cols; m++) dst[m] = 0;
        }
}

// x += the phases put back in their columns: the adjoint of `split_phases`.
static inline __attribute__((always_inline)) void add_phases(
    const swiftps_plane_window *g, const float *restrict phases, float *restrict x) {
    const int32_t s = g->stride_w, cols = phase_cols(g);
    for (int32_t p = 0; p < s; p++)
        for (int32_t r = 0; r < g->height; r++) {
            const float *restrict src = phases + ((ptrdiff_t)p * g->height + r) * cols;
            float *restrict dst = x + (ptrdiff_t)r * g->width + p;
            const int32_t m1 = (g->width - p + s - 1) / s;
            for (int32_t m = 0; m < m1; m++) dst[m * s] += src[m];
        }
}

// Walks every tap (i, j) whose valid outputs, rows [r0, r1) and columns [c0, c0 + n), are not
// empty. `in0` is the offset, in the phases, of the input under the first of them, and `in_step`
// the step to the next output row's; the outputs along a row read consecutive positions of one
// phase. At stride 1 the one phase is the plane itself (`phase_cols` is its width), so these are
// plain offsets into it.
#define FOR_EACH_TAP(g, BODY)                                                                          \
    for (int32_t i = 0; i < (g)->kernel_h; i++) {                                                      \
        int32_t r0, r1;                                                                                \
        valid_range((g)->height, (g)->out_h, (g)->stride_h, (g)->pad_h, i * (g)->dilate_h, &r0, &r1);  \
        if (r0 >= r1) continue;                                                                        \
        for (int32_t j = 0; j < (g)->kernel_w; j++) {                                                  \
            int32_t c0, c1;                                                                            \
            valid_range((g)->width, (g)->out_w, (g)->stride_w, (g)->pad_w, j * (g)->dilate_w, &c0, &c1); \
            if (c0 >= c1) continue;                                                                    \
            const int32_t tap = i * (g)->kernel_w + j, n = c1 - c0;                                    \
            const int32_t col = c0 * (g)->stride_w + j * (g)->dilate_w - (g)->pad_w;                   \
            const int32_t phase = col % (g)->stride_w, first = col / (g)->stride_w;                    \
            const ptrdiff_t in_step = (ptrdiff_t)(g)->stride_h * phase_cols(g);                        \
            const ptrdiff_t in0 =                                                                      \
                ((ptrdiff_t)phase * (g)->height + r0 * (g)->stride_h - (g)->pad_h + i * (g)->dilate_h) * \
                    phase_cols(g) +                                                                    \
                first;                                                                                 \
            BODY                                                                                       \
        }                                                                                              \
    }

// FOR_EACH_TAP and each of its output rows: `in` the input offset (in the phases), `o` the output's.
#define FOR_EACH_SEGMENT(g, BODY)                                                                      \
    FOR_EACH_TAP(g, {                                                                                  \
        for (int32_t oh = r0; oh < r1; oh++) {                                                         \
            const ptrdiff_t in = in0 + (oh - r0) * in_step;                                            \
            const ptrdiff_t o = (ptrdiff_t)oh * (g)->out_w + c0;                                       \
            BODY                                                                                       \
        }                                                                                              \
    })

// Scratch for the phases (none at stride 1): on the stack when small, else the heap.
#define WITH_PHASES(g, name, BODY)                                                                     \
    {                                                                                                  \
        float stack_[8192];                                                                            \
        const size_t count_ =                                                                          \
            (g)->stride_w == 1 ? 0 : (size_t)(g)->stride_w * (size_t)(g)->height * (size_t)phase_cols(g); \
        float *name = count_ <= 8192 ? stack_ : malloc(count_ * sizeof(float));                        \
        if (name == NULL) abort();                                                                     \
        BODY                                                                                           \
        if (name != stack_) free(name);                                                                \
    }

// forward: y += w ⋆ x, each output segment from an input segment (of a phase, at a stride above 1);
// `adjoint`: its data gradient dx += wᵀ ⋆ dy, each output-gradient segment added back into the input.
static inline __attribute__((always_inline)) void axpy_body(
    const swiftps_plane_window *g, const float *restrict from, const float *restrict w, float *restrict to,
    int adjoint) {
    const int split = g->stride_w > 1;
    WITH_PHASES(g, phases, {
        if (split && adjoint) memset(phases, 0, count_ * sizeof(float));
        if (split && !adjoint) split_phases(g, from, phases);
        // The input side: read in forward, written in the adjoint; the phases when split.
        const float *read = split && !adjoint ? phases : from;
        float *write = split && adjoint ? phases : to;
        FOR_EACH_SEGMENT(g, {
            const float wv = w[tap];
            const float *restrict src = read + (adjoint ? o : in);
            float *restrict dst = write + (adjoint ? in : o);
            for (int32_t k = 0; k < n; k++) dst[k] += wv * src[k];
        })
        if (split && adjoint) add_phases(g, phases, to);
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

// Eight-float vectors (two SSE registers in the baseline build). They never cross a call: every
// function using them is always inlined, so the ABI note clang gives for the baseline build does not
// apply.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float v8 __attribute__((vector_size(32)));

// Eight floats from `p` (unaligned).
static inline __attribute__((always_inline)) v8 load8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

// One tap's weight gradient: Σ dy·x over rows r0..r1, n contiguous columns each, the rows of `x`
// `in_row` apart. Three vectors of eight sum the whole groups of eight columns (a row's groups in
// turn, so that they are independent chains), a fourth the columns past them, zero-padded; added up
// once at the end.
static inline __attribute__((always_inline)) float tap_weight(
    const float *restrict dy, const float *restrict x, ptrdiff_t out_w, ptrdiff_t in_row, int32_t r0, int32_t r1,
    int32_t n) {
    const int32_t body = n & ~7;
    v8 s0 = {0}, s1 = {0}, s2 = {0}, rest = {0};
    for (int32_t oh = r0; oh < r1; oh++) {
        const float *a = dy + (oh - r0) * out_w;
        const float *b = x + (oh - r0) * in_row;
        int32_t k = 0;
        for (; k + 24 <= body; k += 24) {
            s0 += load8(a + k) * load8(b + k);
            s1 += load8(a + k + 8) * load8(b + k + 8);
            s2 += load8(a + k + 16) * load8(b + k + 16);
        }
        if (k + 8 <= body) {
            s0 += load8(a + k) * load8(b + k);
            k += 8;
        }
        if (k + 8 <= body) {
            s1 += load8(a + k) * load8(b + k);
            k += 8;
        }
        if (k < n) {
            v8 ta = {0}, tb = {0};
            for (int32_t t = 0; t < n - k; t++) {
                ta[t] = a[k + t];
                tb[t] = b[k + t];
            }
            rest += ta * tb;
        }
    }
    v8 all = s0 + s1 + s2 + rest;
    float sum = 0;
    for (int l = 0; l < 8; l++) sum += all[l];
    return sum;
}

static inline __attribute__((always_inline)) void weight_body(
    const swiftps_plane_window *g, const float *restrict dy, const float *restrict x, float *restrict dw) {
    WITH_PHASES(g, phases, {
        if (g->stride_w > 1) split_phases(g, x, phases);
        const float *input = g->stride_w > 1 ? phases : x;
        FOR_EACH_TAP(g, {
            dw[tap] += tap_weight(dy + (ptrdiff_t)r0 * g->out_w + c0, input + in0, g->out_w, in_step, r0, r1, n);
        })
    })
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
