#define _GNU_SOURCE
#include <time.h>
#include "cshims.h"
#include <malloc.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sched.h>
#include <errno.h>

int32_t swiftps_gettid(void) { return (int32_t)syscall(SYS_gettid); }

void swiftps_set_thread_name(const char *name) {
    char buf[16];
    int i = 0;
    for (; i < 15 && name[i]; i++) buf[i] = name[i];
    buf[i] = 0;
    pthread_setname_np(pthread_self(), buf);
}

double swiftps_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int swiftps_set_thread_affinity(int32_t tid, const int32_t *cpus, int32_t count) {
#if !defined(__linux__)
    (void)tid;
    (void)cpus;
    (void)count;
    errno = ENOSYS;
    return -1;
#else
    int32_t highest = 0;
    for (int32_t i = 0; i < count; i++) {
        if (cpus[i] < 0) {
            errno = EINVAL;
            return -1;
        }
        if (cpus[i] > highest) highest = cpus[i];
    }
    cpu_set_t *set = CPU_ALLOC(highest + 1);
    if (!set) return -1;
    size_t size = CPU_ALLOC_SIZE(highest + 1);
    CPU_ZERO_S(size, set);
    for (int32_t i = 0; i < count; i++) CPU_SET_S(cpus[i], size, set);
    int rc = sched_setaffinity((pid_t)tid, size, set);
    CPU_FREE(set);
    return rc;
#endif
}

int64_t swiftps_peak_rss_kb(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return -1;
    return (int64_t)u.ru_maxrss;
}

int swiftps_keep_freed_memory(size_t bytes) {
    if (bytes > (size_t)0x7fffffff) bytes = 0x7fffffff;
    return mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1 && mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1;
}

// IEEE 754 binary16 conversions for fp16 gradient compression. The portable versions round to
// nearest, ties to even, as the F16C instructions do (same results for every input, NaN payloads
// included), which serve the bulk where the CPU has them.

static uint16_t f32_to_f16_one(float value) {
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {  // infinity, or NaN kept quiet with the top of its payload
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
    }
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // 65520 and up round to infinity
    if (abs < 0x38800000u) {  // below 2^-14: a subnormal half, or zero
        if (abs < 0x33000000u) return sign;  // below 2^-25 (2^-25 itself ties to the even 0)
        uint32_t shift = 126u - (abs >> 23);  // value / 2^-24 = mantissa >> shift
        uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
        uint32_t q = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rest > halfway || (rest == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t rebiased = abs - 0x38000000u;  // exponent bias 127 to 15
    rebiased += 0xfffu + ((rebiased >> 13) & 1u);  // round the 13 dropped bits to nearest even
    return (uint16_t)(sign | (rebiased >> 13));
}

static float f16_to_f32_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t x;
    if (exponent == 0) {
        if (mantissa == 0) {
            x = sign;
        } else {  // subnormal: normalize
            uint32_t shift = 0;
            while (!(mantissa & 0x400u)) {
                mantissa <<= 1;
                shift++;
            }
            x = sign | ((113u - shift) << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else if (exponent == 31) {
        x = sign | 0x7f800000u | (mantissa << 13);
    } else {
        x = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    float value;
    memcpy(&value, &x, sizeof value);
    return value;
}

size_t swiftps_f32_to_f16_portable(const float *src, uint16_t *dst, size_t count) {
    size_t infinite = 0;
    for (size_t i = 0; i < count; i++) {
        dst[i] = f32_to_f16_one(src[i]);
        infinite += (dst[i] & 0x7fffu) == 0x7c00u;
    }
    return infinite;
}

void swiftps_f16_to_f32_portable(const uint16_t *src, float *dst, size_t count, int accumulate) {
    for (size_t i = 0; i < count; i++) {
        float v = f16_to_f32_one(src[i]);
        dst[i] = accumulate ? dst[i] + v : v;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx,f16c"))) static size_t f32_to_f16_f16c(const float *src, uint16_t *dst, size_t count) {
    size_t i = 0, infinite = 0;
    const __m128i magnitude = _mm_set1_epi16(0x7fff), inf = _mm_set1_epi16(0x7c00);
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
        // Two mask bits per 16-bit lane that is +-infinity.
        int mask = _mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(h, magnitude), inf));
        infinite += (size_t)__builtin_popcount((unsigned)mask) / 2;
    }
    return infinite + swiftps_f32_to_f16_portable(src + i, dst + i, count - i);
}

__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(
    const uint16_t *src, float *dst, size_t count, int accumulate) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i)));
        if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(dst + i));
        _mm256_storeu_ps(dst + i, v);
    }
    swiftps_f16_to_f32_portable(src + i, dst + i, count - i, accumulate);
}

static int has_f16c(void) { return __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx"); }
#endif

size_t swiftps_f32_to_f16(const float *src, uint16_t *dst, size_t count) {
#if defined(__x86_64__)
    if (has_f16c()) return f32_to_f16_f16c(src, dst, count);
#endif
    return swiftps_f32_to_f16_portable(src, dst, count);
}

void swiftps_f16_to_f32(const uint16_t *src, float *dst, size_t count, int accumulate) {
#if defined(__x86_64__)
    if (has_f16c()) {
        f16_to_f32_f16c(src, dst, count, accumulate);
        return;
    }
#endif
    swiftps_f16_to_f32_portable(src, dst, count, accumulate);
}
