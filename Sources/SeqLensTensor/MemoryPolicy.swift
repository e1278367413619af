import CAllocator

/// How the process allocator treats the large, short-lived tensors of forward and backward
/// passes (each op allocates its output; a K-step backward allocates hundreds of MB per layer).
public enum MemoryPolicy {
    private static let retained: Void = seqlens_retain_freed_memory()

    /// Keep freed memory in the heap for reuse (measured: 18 s → 11 s for integrated gradients
    /// on SmolLM2, most of the difference being page faults and zeroing of fresh mappings).
    /// Idempotent; called when a model is loaded.
    public static func retainFreedMemory() { _ = retained }

    /// Return free heap memory to the system, e.g. after a daemon request.
    public static func releaseFreedMemory() { seqlens_release_free_memory() }
}
