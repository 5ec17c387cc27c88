#ifndef SWIFTPS_META_BOUNDED_H
#define SWIFTPS_META_BOUNDED_H
#include <stddef.h>
#include <stdint.h>
#include "meta.pb-c.h"

/// Unpacks a meta frame like swiftps__meta__unpack, but fails (returns NULL) once the decoded
/// message would take more than `budget` bytes of heap: a small frame of repeated empty
/// sub-messages must not make the receiver allocate a hundred times its size before any check.
/// Free the result with swiftps_meta_free_bounded.
Swiftps__Meta *swiftps_meta_unpack_bounded(size_t len, const uint8_t *data, size_t budget);

/// Frees what swiftps_meta_unpack_bounded returned.
void swiftps_meta_free_bounded(Swiftps__Meta *meta);

#endif
