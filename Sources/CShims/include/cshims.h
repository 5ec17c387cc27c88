#ifndef SWIFTPS_CSHIMS_H
#define SWIFTPS_CSHIMS_H
#include <stdint.h>
/// The kernel thread id of the calling thread.
int32_t swiftps_gettid(void);
/// Names the calling thread (at most 15 characters are kept).
void swiftps_set_thread_name(const char *name);
/// Peak resident set size of this process in kilobytes.
int64_t swiftps_peak_rss_kb(void);
#include <stddef.h>
/// Makes malloc serve blocks up to `bytes` from its heap and keep up to `bytes` of freed memory at the
/// heap's top (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). Returns 1 on success, 0 otherwise.
int swiftps_keep_freed_memory(size_t bytes);
#endif
