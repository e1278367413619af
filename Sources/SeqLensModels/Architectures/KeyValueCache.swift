import SeqLensTensor

/// Keys and values of the positions already processed, per layer, for incremental decoding.
/// Stored (B, S, Hkv·D) per layer; constants (generation needs no gradients).
public final class KeyValueCache {
    private var keys: [[Float]]
    private var values: [[Float]]
    public private(set) var length = 0
    let batch: Int
    let width: Int

    public init(layers: Int, batch: Int, width: Int) {
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
        self.batch = batch
        self.width = width
    }

    /// Appends this step's keys and values (B, T, W) for `layer` and returns the full (B, S, W).
    func extend(layer: Int, key: Tensor, value: Tensor) -> (key: Tensor, value: Tensor) {
        let t = key.shape[1]
        keys[layer] = Self.concatenated(keys[layer], key.scalars, batch: batch, old: length, new: t, width: width)
        values[layer] = Self.concatenated(values[layer], value.scalars, batch: batch, old: length, new: t, width: width)
        let shape = [batch, length + t, width]
        if layer == keys.count - 1 { length += t }
        return (Tensor(shape: shape, scalars: keys[layer]), Tensor(shape: shape, scalars: values[layer]))
    }

    /// This step's keys and values with the cached positions in front (constants), or the step's
    /// own variables without a cache (attribution differentiates through them).
    static func keysAndValues(_ cache: KeyValueCache?, layer: Int, key: Variable, value: Variable) -> (key: Variable, value: Variable) {
        guard let cache else { return (key, value) }
        let full = cache.extend(layer: layer, key: key.value, value: value.value)
        return (Variable(constant: full.key), Variable(constant: full.value))
    }

    /// A cache holding this one's first `positions` positions (of its first sequence) for each of
    /// `batch` sequences: runs that share a prefix continue from it without recomputing it. With
    /// `layers`, only those layers are copied (a run of some blocks needs no others).
    public func prefix(_ positions: Int, repeatedFor batch: Int, layers: Range<Int>? = nil) -> KeyValueCache {
        let copy = KeyValueCache(layers: keys.count, batch: batch, width: width)
        let count = min(positions, length) * width
        for layer in layers ?? keys.indices {
            let key = Array(keys[layer][0..<count]), value = Array(values[layer][0..<count])
            copy.keys[layer] = Array((0..<batch).map { _ in key }.joined())
            copy.values[layer] = Array((0..<batch).map { _ in value }.joined())
        }
        copy.length = min(positions, length)
        return copy
    }

    /// Keeps, for each new sequence slot, the cached positions of sequence `rows[slot]`: beam
    /// search continues each surviving beam from its parent's keys and values.
    public func reorder(_ rows: [Int]) {
        precondition(rows.count == batch && rows.allSatisfy { (0..<batch).contains($0) }, "bad beam order \(rows)")
        let size = length * width
        for layer in keys.indices {
            let k = keys[layer], v = values[layer]
            guard k.count == batch * size else { continue }
            keys[layer] = Array(rows.map { k[($0 * size)..<(($0 + 1) * size)] }.joined())
            values[layer] = Array(rows.map { v[($0 * size)..<(($0 + 1) * size)] }.joined())
        }
    }

    private static func concatenated(_ old: [Float], _ new: [Float], batch: Int, old oldT: Int, new newT: Int, width: Int) -> [Float] {
        if batch == 1 { return old + new }
        var out = [Float]()
        out.reserveCapacity(old.count + new.count)
        for b in 0..<batch {
            out.append(contentsOf: old[(b * oldT * width)..<((b + 1) * oldT * width)])
            out.append(contentsOf: new[(b * newT * width)..<((b + 1) * newT * width)])
        }
        return out
    }
}
