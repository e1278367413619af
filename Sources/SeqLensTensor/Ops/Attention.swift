import Foundation

/// The result of multi-head attention: the mixed values and the attention pattern.
public struct AttentionResult {
    /// (B, T, Hq·D)
    public let output: Variable
    /// (B, Hq, T, S): row t is query t's distribution over the S keys.
    public let probabilities: Tensor
}

/// Causal multi-head attention with grouped-query sharing of key/value heads.
///
/// Letters: B batch, T queries, S keys (S = offset + T with a KV cache), Hq query heads,
/// Hkv key/value heads (Hq a multiple of Hkv), D head width. Query t sits at absolute position
/// offset + t and sees keys 0...offset + t.
/// - Parameters:
///   - query: (B, T, Hq·D);  key, value: (B, S, Hkv·D)
/// Changes a row of attention probabilities in place (pointer, visible keys): dropout.
public typealias AttentionDropout = (UnsafeMutablePointer<Float>, Int) -> Void

///   - dropout: applied to each query's probabilities before they mix the values (forward
///     only: inputs must be constants); the returned pattern is the dropped one, as in torch.
public func causalAttention(
    query: Variable, key: Variable, value: Variable, queryHeads: Int, keyValueHeads: Int,
    offset: Int, scale: Float, dropout: AttentionDropout? = nil
) -> AttentionResult {
    let b = query.shape[0], t = query.shape[1], s = key.shape[1]
    let d = query.shape[2] / queryHeads
    let hq = queryHeads, hkv = keyValueHeads, group = hq / hkv
    precondition(hq % hkv == 0 && query.shape[2] == hq * d, "bad head layout \(query.shape) for \(hq) heads")
    precondition(key.shape == [b, s, hkv * d] && value.shape == key.shape, "key/value \(key.shape) for query \(query.shape)")
    precondition(offset + t == s, "offset \(offset) + queries \(t) must equal keys \(s)")
    precondition(dropout == nil || !(query.isTracked || key.isTracked || value.isTracked),
                 "attention dropout is forward only")
    let qStride = hq * d, kvStride = hkv * d
    var probabilities = [Float](repeating: 0, count: b * hq * t * s)
    var out = [Float](repeating: 0, count: b * t * hq * d)
    query.value.scalars.withUnsafeBufferPointer { q in
        key.value.scalars.withUnsafeBufferPointer { k in
            value.value.scalars.withUnsafeBufferPointer { v in
                probabilities.withUnsafeMutableBufferPointer { p in
                    out.withUnsafeMutableBufferPointer { o in
                        // Every (batch, head) writes its own output columns and pattern rows. Heads
                        // of one generated token are too small to be worth a second thread.
                        // Dropout draws from one generator, in a fixed order: one thread.
                        let perThread = dropout != nil ? b * hq : max(1, (1 << 15) / max(1, t * s * d))
                        let q = UnsafeBox(q.baseAddress!), k = UnsafeBox(k.baseAddress!), v = UnsafeBox(v.baseAddress!)
                        let p = UnsafeBox(p.baseAddress!), o = UnsafeBox(o.baseAddress!)
                        Parallel.forEachRange(b * hq, minimumPerPart: perThread) { units in
                            for unit in units {
                                let batch = unit / hq, h = unit % hq
                                let kvh = h / group
                                let qh = q.pointer + batch * t * qStride + h * d
                                let kh = k.pointer + batch * s * kvStride + kvh * d
                                let vh = v.pointer + batch * s * kvStride + kvh * d
                                let ph = p.pointer + (batch * hq + h) * t * s
                                // scores = scale · Q Kᵀ   (T, S)
                                BLAS.gemm(transposeA: false, transposeB: true, m: t, n: s, k: d, alpha: scale,
                                          a: qh, lda: qStride, b: kh, ldb: kvStride, c: ph, ldc: s)
                                for row in 0..<t {
                                    let r = ph + row * s
                                    // Keys after the query's position get probability 0: only the
                                    // first `visible` entries go through the softmax.
                                    let visible = min(s, offset + row + 1)
                                    softmaxRow(r, width: visible)
                                    dropout?(r, visible)
                                    if visible < s { (r + visible).update(repeating: 0, count: s - visible) }
                                }
                                // out = P V   (T, D)
                                BLAS.gemm(transposeA: false, transposeB: false, m: t, n: d, k: s,
                                          a: ph, lda: s, b: vh, ldb: kvStride,
                                          c: o.pointer + batch * t * qStride + h * d, ldc: qStride)
                            }
                        }
                    }
                }
            }
        }
    }
    let pattern = probabilities
    let qv = query.value.scalars, kv = key.value.scalars, vv = value.value.scalars
    let queryShape = query.shape, keyShape = key.shape
    let output = Tape.record(Tensor(shape: query.shape, scalars: out), from: [query, key, value]) { cotangent, support in
        let slices = cotangent.shape[0]
        // Queries outside a slice's support have zero cotangent, and so do the keys past it:
        // skip them.
        let truncates = offset == 0 && (support?.applies(to: queryShape, slices: slices) ?? false)
        var dq = [Float](repeating: 0, count: slices * qv.count)
        var dk = [Float](repeating: 0, count: slices * kv.count)
        var dv = [Float](repeating: 0, count: slices * vv.count)
        cotangent.scalars.withUnsafeBufferPointer { dO in
            qv.withUnsafeBufferPointer { q in kv.withUnsafeBufferPointer { k in vv.withUnsafeBufferPointer { v in
            pattern.withUnsafeBufferPointer { p in
            dq.withUnsafeMutableBufferPointer { dQ in dk.withUnsafeMutableBufferPointer { dK in
            dv.withUnsafeMutableBufferPointer { dV in
                let dO = UnsafeBox(UnsafeMutablePointer(mutating: dO.baseAddress!))
                let q = UnsafeBox(UnsafeMutablePointer(mutating: q.baseAddress!))
                let k = UnsafeBox(UnsafeMutablePointer(mutating: k.baseAddress!))
                let v = UnsafeBox(UnsafeMutablePointer(mutating: v.baseAddress!))
                let p = UnsafeBox(UnsafeMutablePointer(mutating: p.baseAddress!))
                let dQ = UnsafeBox(dQ.baseAddress!), dK = UnsafeBox(dK.baseAddress!), dV = UnsafeBox(dV.baseAddress!)
                // Every (slice, batch) writes its own rows of dQ, dK and dV (the heads of one
                // key/value group accumulate into the same dK, dV rows, so they stay together).
                Parallel.forEachRange(slices * b) { units in
                    let dP = UnsafeMutablePointer<Float>.allocate(capacity: t * s)
                    defer { dP.deallocate() }
                    for unit in units {
                        let slice = unit / b, batch = unit % b
                        // Query rows first..<first + m and keys 0..<n take part (all of them
                        // without a support): a query sees no key after its own position.
                        let first = truncates ? support!.starts[slice] : 0
                        let n = truncates ? support!.lengths[slice] : s
                        let m = truncates ? n - first : t
                        if m <= 0 { continue }
                        for h in 0..<hq {
                            let kvh = h / group
                            let qOffset = (batch * t + first) * qStride + h * d
                            let kvOffset = batch * s * kvStride + kvh * d
                            let dOh = dO.pointer + slice * qv.count + qOffset
                            let ph = p.pointer + ((batch * hq + h) * t + first) * s
                            // dV += Pᵀ dO   (S, D)
                            BLAS.gemm(transposeA: true, transposeB: false, m: n, n: d, k: m,
                                      a: ph, lda: s, b: dOh, ldb: qStride, beta: 1,
                                      c: dV.pointer + slice * vv.count + kvOffset, ldc: kvStride)
                            // dP = dO Vᵀ   (T, S)
                            BLAS.gemm(transposeA: false, transposeB: true, m: m, n: n, k: d,
                                      a: dOh, lda: qStride, b: v.pointer + kvOffset, ldb: kvStride,
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
                                      a: dP, lda: s, b: k.pointer + kvOffset, ldb: kvStride,
                                      c: dQ.pointer + slice * qv.count + qOffset, ldc: qStride)
                            BLAS.gemm(transposeA: true, transposeB: false, m: n, n: d, k: m,
                                      a: dP, lda: s, b: q.pointer + qOffset, ldb: qStride, beta: 1,
                                      c: dK.pointer + slice * kv.count + kvOffset, ldc: kvStride)
                        }
                    }
                }
            }}}}}}}
        }
        return [Tensor(shape: [slices] + queryShape, scalars: dq),
                Tensor(shape: [slices] + keyShape, scalars: dk),
                Tensor(shape: [slices] + keyShape, scalars: dv)]
    }
    return AttentionResult(output: output, probabilities: Tensor(shape: [b, hq, t, s], scalars: pattern))
}

/// A pointer handed to the parts of a parallel loop, each of which touches its own region.
struct UnsafeBox<Pointee>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Pointee>
    init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
    init(_ pointer: UnsafePointer<Pointee>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
}
