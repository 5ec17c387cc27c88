#include <stdlib.h>
#include "meta_bounded.h"

typedef struct {
    size_t used;
    size_t budget;
} Budget;

static void *budget_alloc(void *data, size_t size) {
    Budget *budget = data;
    if (size > budget->budget - budget->used) return NULL;
    budget->used += size;
    return malloc(size);
}

static void plain_free(void *data, void *pointer) {
    (void)data;
    free(pointer);
}

Swiftps__Meta *swiftps_meta_unpack_bounded(size_t len, const uint8_t *data, size_t budget) {
    Budget state = {0, budget};
    ProtobufCAllocator allocator = {budget_alloc, plain_free, &state};
    return swiftps__meta__unpack(&allocator, len, data);
}

void swiftps_meta_free_bounded(Swiftps__Meta *meta) {
    ProtobufCAllocator allocator = {budget_alloc, plain_free, NULL};
    swiftps__meta__free_unpacked(meta, &allocator);
}
