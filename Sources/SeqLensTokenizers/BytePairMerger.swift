/// The BPE merge loop of HF `tokenizers` (`Word::merge_all` in models/bpe/word.rs, v0.23):
/// repeatedly merge the adjacent pair with the lowest merge rank, the leftmost one among equals,
/// until no adjacent pair has a merge.
struct BytePairMerger: Sendable {
    /// A merge: its rank (lower merges first) and the id of the token it makes.
    struct Merge: Sendable {
        let rank: UInt32
        let result: Int32
    }

    /// Merges by pair of token ids, `left << 32 | right`.
    let merges: [UInt64: Merge]

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Merges `symbols` (token ids, one per byte of a word) in place.
    func merge(_ symbols: inout [Int32]) {
        let count = symbols.count
        if count < 2 { return }
        if count == 2 {
            if let merge = merges[Self.key(symbols[0], symbols[1])] { symbols = [merge.result] }
            return
        }
        // A doubly linked list over the positions; a merged-away position is marked removed.
        var previous = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = Int32(index) - 1 }
            initialized = count
        }
        var next = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = index + 1 < count ? Int32(index + 1) : -1 }
            initialized = count
        }
        var removed = [Bool](repeating: false, count: count)
        var queue = MergeQueue()
        queue.reserve(count)
        for position in 0..<(count - 1) {
            if let merge = merges[Self.key(symbols[position], symbols[position + 1])] {
                queue.push(rank: merge.rank, position: Int32(position), result: merge.result)
            }
        }
        while let top = queue.pop() {
            let position = Int(top.position)
            if removed[position] { continue }
            let right = Int(next[position])
            if right < 0 { continue }
            // A stale entry: the pair here changed since it was queued.
            guard let merge = merges[Self.key(symbols[position], symbols[right])], merge.result == top.result
            else { continue }
            symbols[position] = top.result
            removed[right] = true
            let afterRight = next[right]
            next[position] = afterRight
            if afterRight >= 0 { previous[Int(afterRight)] = Int32(position) }
            let left = previous[position]
            if left >= 0, let merge = merges[Self.key(symbols[Int(left)], top.result)] {
                queue.push(rank: merge.rank, position: left, result: merge.result)
            }
            if afterRight >= 0, let merge = merges[Self.key(top.result, symbols[Int(afterRight)])] {
                queue.push(rank: merge.rank, position: Int32(position), result: merge.result)
            }
        }
        var kept = 0
        for position in 0..<count where !removed[position] {
            symbols[kept] = symbols[position]
            kept += 1
        }
        symbols.removeLast(count - kept)
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
private struct MergeQueue {
    struct Entry {
        let order: UInt64  // rank << 32 | position
        let result: Int32
        var position: Int32 { Int32(truncatingIfNeeded: order & 0xFFFF_FFFF) }
    }

    private var heap: [Entry] = []

    mutating func reserve(_ capacity: Int) { heap.reserveCapacity(capacity) }

    mutating func push(rank: UInt32, position: Int32, result: Int32) {
        heap.append(Entry(order: UInt64(rank) << 32 | UInt64(UInt32(bitPattern: position)), result: result))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent].order <= heap[child].order { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= heap.count { break }
            let right = left + 1
            let smaller = right < heap.count && heap[right].order < heap[left].order ? right : left
            if heap[parent].order <= heap[smaller].order { break }
            heap.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }
}
