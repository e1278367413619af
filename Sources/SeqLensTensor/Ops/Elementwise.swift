import CPackedKernels
import Foundation

// Elementwise ops. Each pullback walks the cotangent's leading K slices and reuses the values
// saved by the forward pass for every slice.

/// Applies `body(inputSlice, outputSlice)` to each of the K slices of a cotangent.
@inline(__always)
func forEachSlice(
    _ cotangent: Tensor, sliceCount size: Int,
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> [Float] {
    let k = size == 0 ? 0 : cotangent.count / size
    return [Float](unsafeUninitializedCapacity: cotangent.count) { r, initialized in
        cotangent.scalars.withUnsafeBufferPointer { c in
            for slice in 0..<k { body(c.baseAddress! + slice * size, r.baseAddress! + slice * size) }
        }
        initialized = cotangent.count
    }
}

/// Like `forEachSlice`, but under a row support `body` sees only each slice's active elements
/// (offsets within the slice: per batch row, the positions of `support.rows`); the others have
/// zero cotangent and are set to zero.
@inline(__always)
func forEachActiveSlice(
    _ cotangent: Tensor, sliceCount size: Int, shape: [Int], support: RowSupport?,
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Range<Int>) -> Void
) -> [Float] {
    let k = size == 0 ? 0 : cotangent.count / size
    let support = support?.applies(to: shape, slices: k) == true ? support : nil
    return [Float](unsafeUninitializedCapacity: cotangent.count) { r, initialized in
        cotangent.scalars.withUnsafeBufferPointer { c in
            for slice in 0..<k {
                let input = c.baseAddress! + slice * size, output = r.baseAddress! + slice * size
                guard let support else {
                    body(input, output, 0..<size)
                    continue
                }
                let batches = shape[0], rowLength = size / batches, width = rowLength / shape[1]
                let rows = support.rows(slice)
                for batch in 0..<batches {
                    let start = batch * rowLength + rows.lowerBound * width, end = batch * rowLength + rows.upperBound * width
                    (output + batch * rowLength).update(repeating: 0, count: start - batch * rowLength)
                    if end > start { body(input, output, start..<end) }
                    (output + end).update(repeating: 0, count: (batch + 1) * rowLength - end)
                }
            }
        }
        initialized = cotangent.count
    }
}

/// In place: applies `body(slice, activeRange)` to each of the K slices of `cotangent`, under a
/// row support only to its active elements (per batch row, the positions of `support.rows`).
/// The other elements are zero already (the support's promise) and stay so.
@inline(__always)
func updateActiveSlices(
    _ cotangent: inout Tensor, sliceCount size: Int, shape: [Int], support: RowSupport?,
    _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void
) {
    let k = size == 0 ? 0 : cotangent.count / size
    let support = support?.applies(to: shape, slices: k) == true ? support : nil
    cotangent.scalars.withUnsafeMutableBufferPointer { c in
        for slice in 0..<k {
            let base = c.baseAddress! + slice * size
            guard let support else {
                body(base, 0..<size)
                continue
            }
            let batches = shape[0], rowLength = size / batches, width = rowLength / shape[1]
            let rows = support.rows(slice)
            for batch in 0..<batches where !rows.isEmpty {
                body(base, (batch * rowLength + rows.lowerBound * width)..<(batch * rowLength + rows.upperBound * width))
            }
        }
    }
}

/// a + b for equal shapes (the residual stream).
public func add(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.shape == b.shape, "adding \(a.shape) and \(b.shape)")
    return Tape.record(a.value + b.value, from: [a, b], preservesRows: true) { cotangent in [cotangent, cotangent] }
}

/// a ⊙ b for equal shapes (SwiGLU's gate).
public func multiply(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.shape == b.shape, "multiplying \(a.shape) and \(b.shape)")
    var out = a.value.scalars
    b.value.scalars.withUnsafeBufferPointer { bs in
        out.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] *= bs[i] } }
    }
    let av = a.value.scalars, bv = b.value.scalars, n = av.count, shape = a.shape
    return Tape.record(Tensor(shape: shape, scalars: out), from: [a, b], preservesRows: true) { cotangent, support in
        let k = cotangent.shape[0]
        let db = forEachActiveSlice(cotangent, sliceCount: n, shape: shape, support: support) { c, r, active in
            av.withUnsafeBufferPointer { xs in for i in active { r[i] = c[i] * xs[i] } }
        }
        var da = consume cotangent
        updateActiveSlices(&da, sliceCount: n, shape: shape, support: support) { c, active in
            bv.withUnsafeBufferPointer { bs in for i in active { c[i] *= bs[i] } }
        }
        return [da, Tensor(shape: [k] + shape, scalars: db)]
    }
}

/// s · x for a constant scalar (interpolation, scaling).
public func scale(_ x: Variable, by s: Float) -> Variable {
    var out = x.value.scalars
    out.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] *= s } }
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: true) { cotangent in
        var d = consume cotangent
        d.scalars.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] *= s } }
        return [d]
    }
}

/// An elementwise function with its derivative; the pullback multiplies by f'(x).
@inline(__always)
func pointwise(_ x: Variable, _ f: (Float) -> Float, derivative: @escaping (Float) -> Float) -> Variable {
    var out = x.value.scalars
    out.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] = f(o[i]) } }
    let saved = x.value.scalars, n = saved.count, shape = x.shape
    return Tape.record(Tensor(shape: x.shape, scalars: out), from: [x], preservesRows: true) { cotangent, support in
        // f'(x) once, then reused for every slice.
        var slope = saved
        slope.withUnsafeMutableBufferPointer { s in for i in 0..<n { s[i] = derivative(s[i]) } }
        var d = consume cotangent
        updateActiveSlices(&d, sliceCount: n, shape: shape, support: support) { c, active in
            slope.withUnsafeBufferPointer { s in for i in active { c[i] *= s[i] } }
        }
        return [d]
    }
}

/// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
///
/// Written with (1 + tanh u) / 2 = σ(2u): one exponential instead of tanhf, and no cancellation.
/// The buffer kernels (CPackedKernels) vectorise the exponential, which as libm's scalar expf
/// was a fifth of a small model's generation time.
public func geluTanh(_ x: Variable) -> Variable {
    bufferPointwise(x, seqlens_gelu_tanh, derivative: seqlens_gelu_tanh_derivative)
}

/// An elementwise function applied by buffer kernels `f(x, y, count)`; the pullback multiplies by
/// `derivative` (also a buffer kernel), evaluated once for all slices.
func bufferPointwise(
    _ x: Variable, _ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
    derivative: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
) -> Variable {
    let saved = x.value.scalars, n = saved.count, shape = x.shape
    let out = [Float](unsafeUninitializedCapacity: n) { o, initialized in
        saved.withUnsafeBufferPointer { f($0.baseAddress!, o.baseAddress!, n) }
        initialized = n
    }
    return Tape.record(Tensor(shape: shape, scalars: out), from: [x], preservesRows: true) { cotangent, support in
        let slope = [Float](unsafeUninitializedCapacity: n) { s, initialized in
            saved.withUnsafeBufferPointer { derivative($0.baseAddress!, s.baseAddress!, n) }
            initialized = n
        }
        var d = consume cotangent
        updateActiveSlices(&d, sliceCount: n, shape: shape, support: support) { c, active in
            slope.withUnsafeBufferPointer { s in for i in active { c[i] *= s[i] } }
        }
        return [d]
    }
}

/// GELU with the exact normal CDF (`gelu`).
public func geluErf(_ x: Variable) -> Variable {
    pointwise(x, { v in
        0.5 * v * (1 + erff(v * 0.7071067811865476))
    }, derivative: { v in
        0.5 * (1 + erff(v * 0.7071067811865476)) + v * 0.3989422804014327 * expf(-0.5 * v * v)
    })
}

/// SiLU (swish): x·σ(x).
public func silu(_ x: Variable) -> Variable {
    pointwise(x, { v in v / (1 + expf(-v)) }, derivative: { v in
        let s = 1 / (1 + expf(-v))
        return s * (1 + v * (1 - s))
    })
}

/// ReLU (`relu` activations).
public func relu(_ x: Variable) -> Variable {
    pointwise(x, { v in max(v, 0) }, derivative: { v in v > 0 ? 1 : 0 })
}
