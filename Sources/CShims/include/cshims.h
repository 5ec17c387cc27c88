#ifndef SWIFTPS_CSHIMS_H
#define SWIFTPS_CSHIMS_H
#include <stdint.h>
/// The kernel thread id of the calling thread.
int32_t swiftps_gettid(void);
/// Names the calling thread (at most 15 characters are kept).
void swiftps_set_thread_name(const char *name);
/// Seconds on CLOCK_MONOTONIC: the one clock SwiftPS's timings and deadlines are measured on.
double swiftps_monotonic_seconds(void);
/// Restricts thread `tid` (0: the calling thread) to the `count` CPUs listed in `cpus`
/// (sched_setaffinity). Returns 0, or -1 with errno set.
int swiftps_set_thread_affinity(int32_t tid, const int32_t *cpus, int32_t count);
/// Peak resident set size of this process in kilobytes.
int64_t swiftps_peak_rss_kb(void);
#include <stddef.h>
/// Makes malloc serve blocks up to `bytes` from its heap and keep up to `bytes` of freed memory at the
/// heap's top (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). Returns 1 on success, 0 otherwise.
int swiftps_keep_freed_memory(size_t bytes);
/// IEEE 754 binary16 from float32, rounded to nearest even (`count` values; F16C where the CPU has it).
/// Returns how many results are infinite (beyond half precision's range, or infinite already).
size_t swiftps_f32_to_f16(const float *src, uint16_t *dst, size_t count);
/// float32 from binary16, written to `dst` or, with `accumulate` non-zero, added to it.
void swiftps_f16_to_f32(const uint16_t *src, float *dst, size_t count, int accumulate);
/// The same conversions without F16C (for tests and CPUs without it).
size_t swiftps_f32_to_f16_portable(const float *src, uint16_t *dst, size_t count);
void swiftps_f16_to_f32_portable(const uint16_t *src, float *dst, size_t count, int accumulate);
/// One plane's convolution window: input height × width, output out_h × out_w, and the kernel,
/// stride, zero padding and dilation on each axis.
typedef struct {
    int32_t height, width, out_h, out_w;
    int32_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilate_h, dilate_w;
} swiftps_plane_window;
/// y (out_h × out_w) += w ⋆ x: one depthwise filter `w` (kernel_h × kernel_w) over one plane `x`.
void swiftps_depthwise_forward(const swiftps_plane_window *g, const float *x, const float *w, float *y);
/// dx (height × width) += the data gradient of `swiftps_depthwise_forward` for output gradient `dy`.
void swiftps_depthwise_data(const swiftps_plane_window *g, const float *dy, const float *w, float *dx);
/// dw (kernel_h × kernel_w) += the weight gradient of `swiftps_depthwise_forward` for `dy` and `x`.
void swiftps_depthwise_weight(const swiftps_plane_window *g, const float *dy, const float *x, float *dw);
/// For tests: the depthwise kernels use at most instruction-set level `limit` (2 AVX-512, 1 AVX2 + FMA,
/// 0 the baseline; negative: the best the CPU has) from now on. Returns the level now in use.
int swiftps_depthwise_limit(int32_t limit);
#endif
