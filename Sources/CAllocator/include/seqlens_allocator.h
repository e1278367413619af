#ifndef SEQLENS_ALLOCATOR_H
#define SEQLENS_ALLOCATOR_H

/// Serve every allocation from the heap and keep freed memory for reuse. Large tensors then
/// reuse pages instead of being mapped, faulted in and zeroed anew at each op (glibc would mmap
/// blocks over 32 MB and unmap them on free).
void seqlens_retain_freed_memory(void);

/// Hand freed heap memory back to the system (after a request, in the daemon).
void seqlens_release_free_memory(void);

#endif
