#include "seqlens_allocator.h"
#include <malloc.h>
#include <limits.h>

void seqlens_retain_freed_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

void seqlens_release_free_memory(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
