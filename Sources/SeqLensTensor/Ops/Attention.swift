import Foundation

/// The result of multi-head attention: the mixed values and the attention pattern.
public struct AttentionResult {
    /// (B, T, Hq·D)
    public let output: Variable
    /// (B, Hq, T, S): row t is query t's distribution over the S keys.
    public let probabilities: Tensor
}

/// Changes one query's row of attention probabilities in place, after the softmax and before the
/// row mixes the values: Monte Carlo dropout, or a pattern taken from another run. Arguments: the
/// row, its visible keys (the rest stay 0), and the batch, head and query (0..<T) it belongs to.
public typealias AttentionRowEdit = (_ row: UnsafeMutablePointer<Float>, _ visible: Int, _ batch: Int, _ head: Int, _ query: Int) -> Void

/// What each query may attend to (house plan seam 3): the model declares it, and the backward
/// pass prunes rows only where the mask makes that exact.
public enum AttentionMask: Sendable, Equatable {
    /// Query t sits at absolute position offset + t and sees keys 0...offset + t (a decoder).
    case causal(offset: Int)
    /// Every query sees every key (an encoder's self-attention, cross-attention).
    case full

    /// How many leading keys query `row` sees, of `keys`.
    @inline(__always)
    func visibleKeys(row: Int, keys: Int) -> Int {
        switch self {
        case .causal(let offset): return min(keys, offset + row + 1)
        case .full: return keys
        }
    }
}

/// Causal multi-head attention with grouped-query sharing of key/value heads.
///
/// Letters: B batch, T queries, S keys (S = offset + T with a KV cache), Hq query heads,
/// Hkv key/value heads (Hq a multiple of Hkv), D head width. Query t sits at absolute position
/// offset + t and sees keys 0...offset + t.
/// - Parameters:
///   - query: (B, T, Hq·D);  key, value: (B, S, Hkv·D)
///   - editRows: applied to each query's probabilities before they mix the values (forward
///     only: inputs must be constants); the returned pattern is the edited one, as torch's
///     dropped pattern is.
public func causalAttention(
    query: Variable, key: Variable, value: Variable, queryHeads: Int, keyValueHeads: Int,
    offset: Int, scale: Float, editRows: AttentionRowEdit? = nil
) -> AttentionResult {
    precondition(offset + query.shape[1] == key.shape[1], "offset \(offset) + queries \(query.shape[1]) must equal keys \(key.shape[1])")
    return attention(query: query, key: key, value: value, queryHeads: queryHeads, keyValueHeads: keyValueHeads,
                     mask: .causal(offset: offset), scale: scale, editRows: editRows)
}

/// Multi-head attention under an explicit mask, with grouped-query sharing of key/value heads.
///
/// Shapes as for `causalAttention`; with `.full` the keys may come from another sequence of any
/// length S (cross-attention over an encoder's output).
/// - Parameter scoreBias: (Hq, T, S), added to every batch row's scaled scores before the softmax
///   (T5's relative position bias). A constant: the backward pass is unchanged by it.
public func attention(
    query: Variable, key: Variable, value: Variable, queryHeads: Int, keyValueHeads: Int,
    mask: AttentionMask, scale: Float, scoreBias: Tensor? = nil, editRows: AttentionRowEdit? = nil
) -> AttentionResult {
    let b = query.shape[0], t = query.shape[1], s = key.shape[1]
    let d = query.shape[2] / queryHeads
    let hq = queryHeads, hkv = keyValueHeads
    precondition(hq % hkv == 0 && query.shape[2] == hq * d, "bad head layout \(query.shape) for \(hq) heads")
    precondition(key.shape == [b, s, hkv * d] && value.shape == key.shape, "key/value \(key.shape) for query \(query.shape)")
    precondition(editRows == nil || !(query.isTracked || key.isTracked || value.isTracked),
                 "attention row edits are forward only")
    precondition(scoreBias == nil || scoreBias!.shape == [hq, t, s], "score bias \(scoreBias!.shape) for \([hq, t, s])")
    let layout = AttentionLayout(batch: b, queries: t, keys: s, queryHeads: hq, keyValueHeads: hkv, headWidth: d,
                                 mask: mask, scale: scale, scoreBias: scoreBias)
    let qv = query.value.scalars, kv = key.value.scalars, vv = value.value.scalars
    let q = StridedRows(start: 0, stride: hq * d, sliceSize: qv.count)
    let kRows = StridedRows(start: 0, stride: hkv * d, sliceSize: kv.count)
    let (out, pattern) = qv.withUnsafeBufferPointer { qp in kv.withUnsafeBufferPointer { kp in vv.withUnsafeBufferPointer { vp in
        layout.forward(q: qp.baseAddress! + q.start, k: kp.baseAddress!, v: vp.baseAddress!,
                       qStride: q.stride, kvStride: kRows.stride, editRows: editRows)
    }}}
    let queryShape = query.shape, keyShape = key.shape
    // A causal query row reads keys up to its own position; under a full mask, any key row
    // may get cotangent from any query, and the keys' position axis may be another sequence's.
    let dependences: [RowDependence] = mask == .full ? [.samePosition, .anyPosition, .anyPosition] : [.earlierPositions]
    let output = Tape.record(Tensor(shape: query.shape, scalars: out), from: [query, key, value],
                             rowDependences: dependences) { cotangent, support in
        let slices = cotangent.shape[0]
        var dq = [Float](repeating: 0, count: slices * qv.count)
        var dk = [Float](repeating: 0, count: slices * kv.count)
        var dv = [Float](repeating: 0, count: slices * vv.count)
        qv.withUnsafeBufferPointer { qp in kv.withUnsafeBufferPointer { kp in vv.withUnsafeBufferPointer { vp in
        dq.withUnsafeMutableBufferPointer { dqp in dk.withUnsafeMutableBufferPointer { dkp in dv.withUnsafeMutableBufferPointer { dvp in
            layout.backward(cotangent, support: support?.applies(to: queryShape, slices: slices) == true ? support : nil,
                            pattern: pattern,
                            q: (qp.baseAddress!, q), k: (kp.baseAddress!, kRows), v: (vp.baseAddress!, kRows),
                            dq: dqp.baseAddress!, dk: dkp.baseAddress!, dv: dvp.baseAddress!)
        }}}}}}
        return [Tensor(shape: [slices] + queryShape, scalars: dq),
                Tensor(shape: [slices] + keyShape, scalars: dk),
                Tensor(shape: [slices] + keyShape, scalars: dv)]
    }
    return AttentionResult(output: output, probabilities: Tensor(shape: [b, hq, t, s], scalars: pattern))
}

/// Causal self-attention reading queries, keys and values from one fused projection (GPT-2's
/// `c_attn`): (B, T, Hq·D + 2·Hkv·D), laid out [Q | K | V] along the last dimension, no cache.
///
/// The same computation as `causalAttention` on the three column blocks, but the backward
/// writes one cotangent for the fused value instead of three full-width ones to be summed.
public func causalSelfAttention(
    fused qkv: Variable, queryHeads: Int, keyValueHeads: Int, scale: Float, editRows: AttentionRowEdit? = nil
) -> AttentionResult {
    let b = qkv.shape[0], t = qkv.shape[1], width = qkv.shape[2]
    let hq = queryHeads, hkv = keyValueHeads
    let d = width / (hq + 2 * hkv)
    precondition(hq % hkv == 0 && width == (hq + 2 * hkv) * d, "bad fused layout \(qkv.shape) for \(hq)+2×\(hkv) heads")
    precondition(editRows == nil || !qkv.isTracked, "attention row edits are forward only")
    let layout = AttentionLayout(batch: b, queries: t, keys: t, queryHeads: hq, keyValueHeads: hkv, headWidth: d,
                                 mask: .causal(offset: 0), scale: scale)
    let values = qkv.value.scalars
    let q = StridedRows(start: 0, stride: width, sliceSize: values.count)
    let k = StridedRows(start: hq * d, stride: width, sliceSize: values.count)
    let v = StridedRows(start: (hq + hkv) * d, stride: width, sliceSize: values.count)
    let (out, pattern) = values.withUnsafeBufferPointer { p in
        layout.forward(q: p.baseAddress! + q.start, k: p.baseAddress! + k.start, v: p.baseAddress! + v.start,
                       qStride: width, kvStride: width, editRows: editRows)
    }
    let inShape = qkv.shape, outShape = [b, t, hq * d]
    let output = Tape.record(Tensor(shape: outShape, scalars: out), from: [qkv]) { cotangent, support in
        let slices = cotangent.shape[0]
        var d = [Float](repeating: 0, count: slices * values.count)
        values.withUnsafeBufferPointer { p in
            d.withUnsafeMutableBufferPointer { dp in
                let base = p.baseAddress!, dBase = dp.baseAddress!
                layout.backward(cotangent, support: support?.applies(to: outShape, slices: slices) == true ? support : nil,
                                pattern: pattern, q: (base, q), k: (base, k), v: (base, v),
                                dq: dBase + q.start, dk: dBase + k.start, dv: dBase + v.start)
            }
        }
        return [Tensor(shape: [slices] + inShape, scalars: d)]
    }
    return AttentionResult(output: output, probabilities: Tensor(shape: [b, hq, t, t], scalars: pattern))
}

/// Rows of one operand inside its buffer: the operand's first column, the distance between
/// rows, and the size of one cotangent slice of the buffer.
struct StridedRows {
    let start: Int
    let stride: Int
    let sliceSize: Int
}

/// The shape of one attention call and its two passes over strided operands.
struct AttentionLayout {
    let batch: Int, queries: Int, keys: Int
    let queryHeads: Int, keyValueHeads: Int, headWidth: Int
    let mask: AttentionMask
    let scale: Float
    var scoreBias: Tensor? = nil

    /// (output (B, T, Hq·D), pattern (B, Hq, T, S)) from operand pointers at their first column.
    func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, qStride: Int, kvStride: Int,
        editRows: AttentionRowEdit?
    ) -> ([Float], [Float]) {
        let b = batch, t = queries, s = keys, hq = queryHeads, d = headWidth, group = queryHeads / keyValueHeads
        let outStride = hq * d
        var probabilities = [Float](repeating: 0, count: b * hq * t * s)
        var out = [Float](repeating: 0, count: b * t * outStride)
        probabilities.withUnsafeMutableBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                // Every (batch, head) writes its own output columns and pattern rows. Heads
                // of one generated token are too small to be worth a second thread.
                // Dropout draws from one generator, in a fixed order: one thread for any edit.
                let perThread = editRows != nil ? b * hq : max(1, (1 << 15) / max(1, t * s * d))
                let q = UnsafeBox(q), k = UnsafeBox(k), v = UnsafeBox(v)
                let p = UnsafeBox(p.baseAddress!), o = UnsafeBox(o.baseAddress!)
                Parallel.forEachRange(b * hq, minimumPerPart: perThread) { units in
                    for unit in units {
                        let batchIndex = unit / hq, h = unit % hq
                        let kvh = h / group
                        let qh = q.pointer + batchIndex * t * qStride + h * d
                        let kh = k.pointer + batchIndex * s * kvStride + kvh * d
                        let vh = v.pointer + batchIndex * s * kvStride + kvh * d
                        let ph = p.pointer + (batchIndex * hq + h) * t * s
                        // scores = scale · Q Kᵀ   (T, S)
                        BLAS.gemm(transposeA: false, transposeB: true, m: t, n: s, k: d, alpha: scale,
                                  a: qh, lda: qStride, b: kh, ldb: kvStride, c: ph, ldc: s)
                        if let bias = scoreBias {
                            bias.scalars.withUnsafeBufferPointer { bp in
                                let head = bp.baseAddress! + h * t * s
                                for i in 0..<(t * s) { ph[i] += head[i] }
                            }
                        }
                        for row in 0..<t {
                            let r = ph + row * s
                            // Keys the mask hides (after the query's position, for a causal
                            // mask) get probability 0: only the first `visible` go through the softmax.
                            let visible = mask.visibleKeys(row: row, keys: s)
                            softmaxRow(r, width: visible)
                            editRows?(r, visible, batchIndex, h, row)
                            if visible < s { (r + visible).update(repeating: 0, count: s - visible) }
                        }
                        // out = P V   (T, D)
                        BLAS.gemm(transposeA: false, transposeB: false, m: t, n: d, k: s,
                                  a: ph, lda: s, b: vh, ldb: kvStride,
                                  c: o.pointer + batchIndex * t * outStride + h * d, ldc: outStride)
                    }
                }
            }
        }
        return (out, probabilities)
    }

    /// Accumulates the cotangents of the operands (zeroed by the caller, each at its first
    /// column, with the strides of `q`, `k`, `v`) from the output's K-slice cotangent.
    func backward(
        _ cotangent: Tensor, support: RowSupport?, pattern: [Float],
        q: (UnsafePointer<Float>, StridedRows), k: (UnsafePointer<Float>, StridedRows), v: (UnsafePointer<Float>, StridedRows),
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
    ) {
        let slices = cotangent.shape[0]
        let b = batch, t = queries, s = keys, hq = queryHeads, d = headWidth, group = queryHeads / keyValueHeads
        let outStride = hq * d, outSlice = b * t * outStride
        let qStride = q.1.stride, kvStride = k.1.stride
        precondition(v.1.stride == kvStride, "key and value rows must share a stride")
        // Queries outside a slice's support have zero cotangent, and under a causal mask from
        // position 0 so do the keys past it: skip them.
        let truncates = mask == .causal(offset: 0) && support != nil
        cotangent.scalars.withUnsafeBufferPointer { dO in
            pattern.withUnsafeBufferPointer { p in
                let dO = UnsafeBox(dO.baseAddress!), p = UnsafeBox(p.baseAddress!)
                let qp = UnsafeBox(q.0 + q.1.start), kp = UnsafeBox(k.0 + k.1.start), vp = UnsafeBox(v.0 + v.1.start)
                let dQ = UnsafeBox(dq), dK = UnsafeBox(dk), dV = UnsafeBox(dv)
                let qSlice = q.1.sliceSize, kSlice = k.1.sliceSize, vSlice = v.1.sliceSize
                // Every (slice, batch) writes its own rows of dQ, dK and dV (the heads of one
                // key/value group accumulate into the same dK, dV rows, so they stay together).
                Parallel.forEachRange(slices * b) { units in
                    let dP = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
                    defer { dP.deallocate() }
                    for unit in units {
                        let slice = unit / b, batchIndex = unit % b
                        // Query rows first..<first + m and keys 0..<n take part (all of them
                        // without a support): a query sees no key after its own position.
                        let first = truncates ? support!.starts[slice] : 0
                        let n = truncates ? support!.lengths[slice] : s
                        let m = truncates ? n - first : t
                        if m <= 0 { continue }
                        for h in 0..<hq {
                            let kvh = h / group
                            let qOffset = (batchIndex * t + first) * qStride + h * d
                            let kvOffset = batchIndex * s * kvStride + kvh * d
                            let dOh = dO.pointer + slice * outSlice + (batchIndex * t + first) * outStride + h * d
                            let ph = p.pointer + ((batchIndex * hq + h) * t + first) * s
                            // dV += Pᵀ dO   (S, D)
                            BLAS.gemm(transposeA: true, transposeB: false, m: n, n: d, k: m,
                                      a: ph, lda: s, b: dOh, ldb: outStride, beta: 1,
                                      c: dV.pointer + slice * vSlice + kvOffset, ldc: kvStride)
                            // dP = dO Vᵀ   (T, S)
                            BLAS.gemm(transposeA: false, transposeB: true, m: m, n: n, k: d,
                                      a: dOh, lda: outStride, b: vp.pointer + kvOffset, ldb: kvStride,
                                      c: dP, ldc: s)
                            // dScores = P ⊙ (dP − rowsum(P ⊙ dP)) · scale
                            for row in 0..<m {
                                let pr = ph + row * s, dr = dP + row * s
                                var dot: Float = 0
                                for j in 0..<n { dot += pr[j] * dr[j] }
                                for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) * scale }
                            }
                            // dQ = dScores K   (T, D);  dK += dScoresᵀ Q   (S, D)
                            BLAS.gemm(transposeA: false, transposeB: false, m: m, n: d, k: n,
                                      a: dP, lda: s, b: kp.pointer + kvOffset, ldb: kvStride,
                                      c: dQ.pointer + slice * qSlice + qOffset, ldc: qStride)
                            BLAS.gemm(transposeA: true, transposeB: false, m: n, n: d, k: m,
                                      a: dP, lda: s, b: qp.pointer + qOffset, ldb: qStride, beta: 1,
                                      c: dK.pointer + slice * kSlice + kvOffset, ldc: kvStride)
                        }
                    }
                }
            }
        }
    }
}

/// A pointer handed to the parts of a parallel loop, each of which touches its own region.
struct UnsafeBox<Pointee>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Pointee>
    init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
    init(_ pointer: UnsafePointer<Pointee>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
}
