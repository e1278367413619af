import CPackedKernels

/// Loops split over the calling thread and SeqLens's resident workers (the pool that large
/// GEMMs use). Parts must touch disjoint memory. A loop started from inside another one (or
/// while another thread runs one) runs on its own thread, one part after another.
public enum Parallel {
    /// The threads a loop is split over.
    public static var threadCount: Int { BLAS.configuredThreads }

    /// Calls `body` with contiguous sub-ranges of 0..<count, one per thread, when each would get
    /// at least `minimumPerPart` items; otherwise once with the whole range.
    public static func forEachRange(_ count: Int, minimumPerPart: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(threadCount, count / max(1, minimumPerPart))
        guard parts > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + parts - 1) / parts
        withoutActuallyEscaping(body) { body in
            var task: (Int) -> Void = { part in
                let begin = part * chunk, end = min(count, begin + chunk)
                if begin < end { body(begin..<end) }
            }
            withUnsafeMutablePointer(to: &task) { pointer in
                seqlens_parallel_run(Int32(parts), { context, part in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(part))
                }, pointer)
            }
        }
    }
}
