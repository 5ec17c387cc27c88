#define _GNU_SOURCE
#include "cshims.h"
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int32_t swiftps_gettid(void) { return (int32_t)syscall(SYS_gettid); }

void swiftps_set_thread_name(const char *name) {
    char buf[16];
    int i = 0;
    for (; i < 15 && name[i]; i++) buf[i] = name[i];
    buf[i] = 0;
    pthread_setname_np(pthread_self(), buf);
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
