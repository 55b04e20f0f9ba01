#!/usr/bin/env python3
"""Generate reference values for the TensorCore op tests.

Regenerate with (from anywhere; paths are resolved relative to the repo root):

    python3 scripts/gen-op-fixtures.py

This writes Tests/TensorCoreTests/Fixtures/ops.json.  Only numpy is needed
(Debian: python3-numpy); the reference math is written out here in float64.
Output is deterministic: running the script twice gives a byte-identical file.

JSON format
-----------
    {"generator": "scripts/gen-op-fixtures.py", "seed": 1234,
     "cases": [
       {"name": "unique_case_name", "op": "matmul", "attrs": {...},
        "inputs":  [{"shape": [3, 5], "permute": [1, 0], "data": [...]}, ...],
        "outputs": [{"shape": [...], "dtype": "float32", "data": [...]}, ...]},
       ...]}

* `data` is always the flat, row-major (C order) contents of an array of the
  given `shape`.  Input data are float32 values, written exactly (each number
  parses back, as float32, to the stored value).
* `permute` (optional, inputs only): read the input as a contiguous tensor of
  the stored `shape`, then make a non-contiguous *view* by permuting its axes
  with `permute` (numpy `np.transpose(x, permute)` semantics: view axis i is
  stored axis permute[i], so view.shape[i] == shape[permute[i]]), and pass
  that view to the op.  The reference was computed on that view.
* Outputs are contiguous; `dtype` is "float32" (values computed in float64
  from the float32 inputs, then rounded to float32) or "int64" (indices,
  written as JSON integers).  Float outputs may be -0.0, and tail values are
  accurate rather than flushed (e.g. gelu(-8) ~ -5e-15, sigmoid(-100) ~
  3.8e-44, a float32 subnormal), so compare with an absolute tolerance too.
* Input order and attrs per op (PyTorch conventions, NCHW):
    matmul             a, b                      np.matmul (batch broadcasting)
    linear             x, weight[out,in], (bias[out] if attrs.bias)
    conv1d             x[N,C,L], w[O,C/groups,K], (bias)  attrs stride, padding,
                       dilation, groups (ints), bias (bool); zero padding
    conv2d             x[N,C,H,W], w[O,C/groups,kh,kw], (bias)  attrs stride,
                       padding, dilation ([h,w] lists), groups, bias
    conv2d_bn          x, w, (bias), gamma, beta, running_mean, running_var;
                       conv2d attrs + eps:
                       out = gamma*(conv(x)-mean)/sqrt(var+eps)+beta
    layer_norm         x, weight[D], bias[D]; attrs eps; over last axis,
                       biased variance
    softmax, log_softmax  x; attrs axis
    gelu (erf), gelu_tanh, quick_gelu (x*sigmoid(1.702x)), relu, relu6,
    silu, sigmoid      x; attrs {}
    attention          q[B,H,Lq,D], k[B,H,Lk,D], v[B,H,Lk,Dv], (key_mask[B,Lk]
                       of 1.0 attend / 0.0 masked, if attrs.key_mask);
                       attrs causal, key_mask, optional scale (absent ->
                       1/sqrt(D)).  Causal is bottom-right aligned: query i
                       sees key j iff j <= i + (Lk - Lq).
    avg_pool2d         x; attrs kernel, stride, padding, count_include_pad
                       (floor output size)
    max_pool2d         x; attrs kernel, stride, padding (padding is -inf)
    adaptive_avg_pool2d  x; attrs output [oh, ow]; bins
                       [floor(i*H/oh), ceil((i+1)*H/oh))
    add, sub, mul, div a, b with numpy broadcasting
    concat             N inputs; attrs axis (may be negative)
    split              x; attrs axis, sizes -> one output per size, in order
    permute            x; attrs perm -> contiguous np.transpose(x, perm)
    argmax             x; attrs axis; int64 output, the axis removed
                       (keepdim=False); ties -> first index
    topk               x; attrs k, axis; outputs values (descending, float32)
                       and indices (int64), shape = x.shape with axis -> k
"""

import json
import math
import os
from fractions import Fraction

import numpy as np

SEED = 1234
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PATH = os.path.join(REPO_ROOT, "Tests", "TensorCoreTests", "Fixtures", "ops.json")

rng = np.random.default_rng(SEED)
CASES = []


# ----------------------------------------------------------------------------
# Input generation (always float32)

def randn(*shape, scale=1.0, offset=0.0):
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def unif(lo, hi, *shape):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def away_from_zero(*shape):
    """Values in +-[0.5, 2] (divisors)."""
    mag = rng.uniform(0.5, 2.0, shape)
    sign = np.where(rng.uniform(0.0, 1.0, shape) < 0.5, -1.0, 1.0)
    return (mag * sign).astype(np.float32)


class In:
    """An input: the stored (contiguous) float32 array and an optional permute."""

    def __init__(self, stored, perm=None):
        self.stored = np.ascontiguousarray(np.asarray(stored, dtype=np.float32))
        self.perm = list(perm) if perm is not None else None
        if self.perm is not None:
            assert sorted(self.perm) == list(range(self.stored.ndim))

    def view(self):
        """What the op sees, as float64."""
        x = self.stored.astype(np.float64)
        if self.perm is not None:
            x = np.transpose(x, self.perm)
        return x


def as_in(x):
    return x if isinstance(x, In) else In(x)


# ----------------------------------------------------------------------------
# Reference implementations (float64, straightforward)

def ref_matmul(a, b):
    return np.matmul(a, b)


def ref_linear(x, w, b):
    out = np.matmul(x, w.T)
    if b is not None:
        out = out + b
    return out


def conv_out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    assert C == Cg * groups and O % groups == 0
    Og = O // groups
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    OH = conv_out_size(H, KH, sh, ph, dh)
    OW = conv_out_size(W, KW, sw, pw, dw)
    assert OH >= 1 and OW >= 1
    out = np.zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for oy in range(OH):
                for ox in range(OW):
                    s = 0.0
                    for c in range(Cg):
                        for ky in range(KH):
                            iy = oy * sh - ph + ky * dh
                            if iy < 0 or iy >= H:
                                continue
                            for kx in range(KW):
                                ix = ox * sw - pw + kx * dw
                                if ix < 0 or ix >= W:
                                    continue
                                s += x[n, g * Cg + c, iy, ix] * w[o, c, ky, kx]
                    if b is not None:
                        s += b[o]
                    out[n, o, oy, ox] = s
    return out


def ref_conv1d(x, w, b, stride, padding, dilation, groups):
    N, C, L = x.shape
    O, Cg, K = w.shape
    assert C == Cg * groups and O % groups == 0
    Og = O // groups
    OL = conv_out_size(L, K, stride, padding, dilation)
    assert OL >= 1
    out = np.zeros((N, O, OL))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for ol in range(OL):
                s = 0.0
                for c in range(Cg):
                    for k in range(K):
                        il = ol * stride - padding + k * dilation
                        if 0 <= il < L:
                            s += x[n, g * Cg + c, il] * w[o, c, k]
                if b is not None:
                    s += b[o]
                out[n, o, ol] = s
    return out


def ref_batchnorm(y, gamma, beta, mean, var, eps):
    out = np.zeros_like(y)
    for o in range(y.shape[1]):
        out[:, o] = gamma[o] * (y[:, o] - mean[o]) / math.sqrt(var[o] + eps) + beta[o]
    return out


def ref_layer_norm(x, w, b, eps):
    rows = x.reshape(-1, x.shape[-1])
    out = np.zeros_like(rows)
    for r in range(rows.shape[0]):
        row = rows[r]
        mean = row.sum() / row.size
        var = ((row - mean) ** 2).sum() / row.size
        out[r] = (row - mean) / math.sqrt(var + eps) * w + b
    return out.reshape(x.shape)


def _along_axis(x, axis, fn):
    """Apply fn (1-D -> 1-D, same length) to every 1-D slice along axis."""
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    out = np.array([fn(r) for r in rows]).reshape(moved.shape)
    return np.moveaxis(out, -1, axis)


def _softmax_1d(r):
    e = np.exp(r - r.max())
    return e / e.sum()


def _log_softmax_1d(r):
    m = r.max()
    return r - m - math.log(np.exp(r - m).sum())


def ref_softmax(x, axis):
    return _along_axis(x, axis, _softmax_1d)


def ref_log_softmax(x, axis):
    return _along_axis(x, axis, _log_softmax_1d)


def _sigmoid(v):
    # 1 / (1 + exp(-v)), written so that exp never overflows.
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _gelu_erf(v):
    # 0.5 * v * (1 + erf(v / sqrt(2))).  1 + erf(t) == erfc(-t); erfc avoids the
    # cancellation of 1 + erf(t) for negative t, so tail values (x <~ -5) are
    # accurate rather than float64 rounding noise.
    return 0.5 * v * math.erfc(-v / math.sqrt(2.0))


def _gelu_tanh(v):
    # 0.5 * v * (1 + tanh(u)), u = sqrt(2/pi) * (v + 0.044715 v^3).
    # 0.5 * (1 + tanh(u)) == sigmoid(2u); this form avoids the cancellation of
    # 1 + tanh(u) for negative u.
    u = math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)
    return v * _sigmoid(2.0 * u)


UNARY = {
    "gelu": _gelu_erf,
    "gelu_tanh": _gelu_tanh,
    "quick_gelu": lambda v: v * _sigmoid(1.702 * v),
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "silu": lambda v: v * _sigmoid(v),
    "sigmoid": _sigmoid,
}


def ref_unary(op, x):
    f = UNARY[op]
    return np.array([f(float(v)) for v in x.reshape(-1)]).reshape(x.shape)


def ref_attention(q, k, v, key_mask, causal, scale):
    B, H, Lq, D = q.shape
    Lk = k.shape[2]
    Dv = v.shape[3]
    assert k.shape == (B, H, Lk, D) and v.shape == (B, H, Lk, Dv)
    if scale is None:
        scale = 1.0 / math.sqrt(D)
    out = np.zeros((B, H, Lq, Dv))
    for b in range(B):
        for h in range(H):
            for i in range(Lq):
                allowed = [j for j in range(Lk)
                           if (not causal or j <= i + (Lk - Lq))
                           and (key_mask is None or key_mask[b, j] == 1.0)]
                assert allowed, "fully masked row"
                scores = np.array([scale * np.dot(q[b, h, i], k[b, h, j]) for j in allowed])
                p = np.exp(scores - scores.max())
                p = p / p.sum()
                for idx, j in enumerate(allowed):
                    out[b, h, i] += p[idx] * v[b, h, j]
    return out


def ref_pool2d(x, kernel, stride, padding, kind, count_include_pad=True):
    N, C, H, W = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    assert ph <= kh // 2 and pw <= kw // 2
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    out = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    vals = []
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * sh - ph + ky
                            ix = ox * sw - pw + kx
                            if 0 <= iy < H and 0 <= ix < W:
                                vals.append(x[n, c, iy, ix])
                    assert vals
                    if kind == "max":
                        out[n, c, oy, ox] = max(vals)  # padding (-inf) never wins
                    elif count_include_pad:
                        out[n, c, oy, ox] = sum(vals) / (kh * kw)
                    else:
                        out[n, c, oy, ox] = sum(vals) / len(vals)
    return out


def ref_adaptive_avg_pool2d(x, output):
    N, C, H, W = x.shape
    oh, ow = output
    out = np.zeros((N, C, oh, ow))
    for i in range(oh):
        y0 = (i * H) // oh
        y1 = -((-(i + 1) * H) // oh)  # ceil
        for j in range(ow):
            x0 = (j * W) // ow
            x1 = -((-(j + 1) * W) // ow)
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(axis=(2, 3))
    return out


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


def ref_argmax(x, axis):
    def first_max(r):
        best = 0
        for i in range(1, r.size):
            if r[i] > r[best]:
                best = i
        return best
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    return np.array([first_max(r) for r in rows], dtype=np.int64).reshape(moved.shape[:-1])


def ref_topk(x, k, axis):
    moved = np.moveaxis(x, axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    vals, idxs = [], []
    for r in rows:
        assert len(set(r.tolist())) == r.size, "topk input must be tie-free"
        order = sorted(range(r.size), key=lambda i: -r[i])[:k]
        idxs.append(order)
        vals.append([r[i] for i in order])
    shape = moved.shape[:-1] + (k,)
    vals = np.moveaxis(np.array(vals).reshape(shape), -1, axis)
    idxs = np.moveaxis(np.array(idxs, dtype=np.int64).reshape(shape), -1, axis)
    return vals, idxs


# ----------------------------------------------------------------------------
# Serialisation

def fmt_f32(value):
    """Shortest decimal that parses back to this float32, both directly and
    via float64 (it is kept well inside the float32 rounding interval)."""
    v = np.float32(value)
    assert np.isfinite(v), value
    x = float(v)
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0"
    exact = Fraction(x)
    lo = Fraction(float(np.nextafter(v, np.float32(-np.inf))))
    hi = Fraction(float(np.nextafter(v, np.float32(np.inf))))
    for digits in range(1, 10):
        s = "%.*g" % (digits, x)
        if np.float32(float(s)) != v:
            continue
        d = Fraction(s)
        if d <= exact:
            ok = (exact - d) < Fraction(49, 100) * (exact - lo)
        else:
            ok = (d - exact) < Fraction(49, 100) * (hi - exact)
        if ok:
            return s
    s = "%.9g" % x
    assert np.float32(float(s)) == v
    return s


class Raw:
    def __init__(self, text):
        self.text = text


def f32_data(arr):
    arr = np.asarray(arr, dtype=np.float64)
    assert np.all(np.isfinite(arr))
    return Raw("[" + ",".join(fmt_f32(v) for v in arr.astype(np.float32).reshape(-1)) + "]")


def int_data(arr):
    return Raw("[" + ",".join(str(int(v)) for v in np.asarray(arr).reshape(-1)) + "]")


def enc(obj):
    if isinstance(obj, Raw):
        return obj.text
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + enc(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(enc(v) for v in obj) + "]"
    if isinstance(obj, (bool, np.bool_)):
        return "true" if obj else "false"
    if isinstance(obj, (int, np.integer)):
        return str(int(obj))
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    if isinstance(obj, str):
        return json.dumps(obj)
    raise TypeError(type(obj))


def add_case(name, op, attrs, inputs, outputs):
    """inputs: list of In; outputs: list of (array, dtype)."""
    assert all(c["name"] != name for c in CASES), "duplicate case name " + name
    ins = []
    for i in inputs:
        d = {"shape": list(i.stored.shape)}
        if i.perm is not None:
            d["permute"] = i.perm
        d["data"] = f32_data(i.stored)
        ins.append(d)
    outs = []
    for arr, dtype in outputs:
        arr = np.asarray(arr)
        d = {"shape": list(arr.shape), "dtype": dtype}
        d["data"] = f32_data(arr) if dtype == "float32" else int_data(arr)
        outs.append(d)
    CASES.append({"name": name, "op": op, "attrs": attrs, "inputs": ins, "outputs": outs})


# ----------------------------------------------------------------------------
# Cases

def gen_matmul():
    def case(name, a, b):
        a, b = as_in(a), as_in(b)
        add_case(name, "matmul", {}, [a, b], [(ref_matmul(a.view(), b.view()), "float32")])

    case("matmul_2d", randn(4, 6), randn(6, 5))
    case("matmul_2d_odd", randn(7, 13), randn(13, 5))
    case("matmul_2d_tile_edges", randn(17, 33), randn(33, 19))
    case("matmul_batched_3d", randn(3, 5, 7), randn(3, 7, 4))
    case("matmul_4d", randn(2, 3, 5, 4), randn(2, 3, 4, 6))
    case("matmul_broadcast_a3d_b2d", randn(3, 5, 7), randn(7, 4))
    case("matmul_broadcast_batch_4d", randn(2, 1, 3, 4), randn(1, 3, 4, 5))
    case("matmul_a_transposed", In(randn(7, 5), [1, 0]), randn(7, 3))
    case("matmul_b_transposed", randn(5, 7), In(randn(3, 7), [1, 0]))
    case("matmul_both_transposed", In(randn(7, 5), [1, 0]), In(randn(3, 7), [1, 0]))
    case("matmul_batched_a_permuted", In(randn(3, 7, 5), [0, 2, 1]), randn(3, 7, 4))
    case("matmul_batched_b_permuted", randn(3, 5, 7), In(randn(3, 4, 7), [0, 2, 1]))
    case("matmul_4d_heads_permuted", In(randn(1, 5, 2, 4), [0, 2, 1, 3]), randn(1, 2, 4, 5))
    case("matmul_m1", randn(1, 13), randn(13, 6))
    case("matmul_n1", randn(5, 13), randn(13, 1))
    case("matmul_k1", randn(5, 1), randn(1, 6))
    case("matmul_batched_m1", randn(2, 1, 8), randn(2, 8, 5))
    case("matmul_1x1x1", randn(1, 1), randn(1, 1))


def gen_linear():
    def case(name, x, out_f, bias):
        x = as_in(x)
        in_f = x.view().shape[-1]
        w = In(randn(out_f, in_f, scale=0.5))
        ins = [x, w]
        b = None
        if bias:
            b = In(randn(out_f, scale=0.5))
            ins.append(b)
        ref = ref_linear(x.view(), w.view(), b.view() if b else None)
        add_case(name, "linear", {"bias": bias}, ins, [(ref, "float32")])

    case("linear_2d", randn(4, 8), 6, True)
    case("linear_3d", randn(2, 5, 7), 3, True)
    case("linear_odd", randn(13, 17), 11, True)
    case("linear_no_bias", randn(3, 5), 4, False)
    case("linear_in1", randn(5, 1), 3, True)
    case("linear_out1", randn(4, 7), 1, True)
    case("linear_batch1", randn(1, 1, 9), 5, True)
    case("linear_x_permuted", In(randn(7, 5), [1, 0]), 3, True)
    case("linear_3d_x_permuted_no_bias", In(randn(5, 2, 7), [1, 0, 2]), 4, False)


def gen_conv1d():
    def case(name, x, O, K, stride=1, padding=0, dilation=1, groups=1, bias=True):
        x = as_in(x)
        C = x.view().shape[1]
        w = In(randn(O, C // groups, K, scale=0.5))
        ins = [x, w]
        b = None
        if bias:
            b = In(randn(O, scale=0.5))
            ins.append(b)
        ref = ref_conv1d(x.view(), w.view(), b.view() if b else None, stride, padding, dilation, groups)
        attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "bias": bias}
        add_case(name, "conv1d", attrs, ins, [(ref, "float32")])

    case("conv1d_k3_p1", randn(2, 3, 10), 4, 3, padding=1)
    case("conv1d_stride2", randn(1, 3, 11), 5, 3, stride=2, padding=1)
    case("conv1d_dilation2", randn(1, 2, 13), 3, 3, padding=2, dilation=2)
    case("conv1d_groups2", randn(2, 4, 9), 6, 3, padding=1, groups=2)
    case("conv1d_depthwise", randn(1, 5, 12), 5, 3, padding=1, groups=5)
    case("conv1d_k1_no_bias", randn(2, 7, 5), 3, 1, bias=False)
    case("conv1d_whisper_like", randn(1, 4, 16), 6, 3, stride=2, padding=1)
    case("conv1d_odd_k5_no_bias", randn(1, 3, 13), 7, 5, padding=2, bias=False)
    case("conv1d_c1_o1_no_pad", randn(1, 1, 7), 1, 3)
    case("conv1d_l1_k3_p1", randn(2, 3, 1), 4, 3, padding=1)
    case("conv1d_x_permuted", In(randn(2, 9, 3), [0, 2, 1]), 4, 3, padding=1)


def gen_conv2d():
    def case(name, x, O, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=True):
        x = as_in(x)
        C = x.view().shape[1]
        w = In(randn(O, C // groups, kernel[0], kernel[1], scale=0.5))
        ins = [x, w]
        b = None
        if bias:
            b = In(randn(O, scale=0.5))
            ins.append(b)
        ref = ref_conv2d(x.view(), w.view(), b.view() if b else None, stride, padding, dilation, groups)
        attrs = {"stride": list(stride), "padding": list(padding), "dilation": list(dilation),
                 "groups": groups, "bias": bias}
        add_case(name, "conv2d", attrs, ins, [(ref, "float32")])

    case("conv2d_3x3_p1", randn(1, 3, 8, 8), 4, (3, 3), padding=(1, 1))
    case("conv2d_3x3_s2_p1", randn(1, 3, 9, 9), 4, (3, 3), stride=(2, 2), padding=(1, 1))
    case("conv2d_3x3_no_pad_no_bias", randn(1, 2, 7, 6), 3, (3, 3), bias=False)
    case("conv2d_1x1", randn(1, 5, 6, 7), 3, (1, 1))
    case("conv2d_1x1_s2", randn(1, 4, 7, 9), 3, (1, 1), stride=(2, 2))
    case("conv2d_7x7_s2_p3", randn(1, 3, 13, 11), 4, (7, 7), stride=(2, 2), padding=(3, 3))
    case("conv2d_depthwise_3x3", randn(1, 4, 7, 7), 4, (3, 3), padding=(1, 1), groups=4)
    case("conv2d_depthwise_mult2", randn(1, 3, 6, 6), 6, (3, 3), padding=(1, 1), groups=3)
    case("conv2d_depthwise_3x3_s2", randn(1, 5, 9, 8), 5, (3, 3), stride=(2, 2), padding=(1, 1), groups=5,
         bias=False)
    case("conv2d_groups2", randn(1, 4, 6, 5), 6, (3, 3), padding=(1, 1), groups=2)
    case("conv2d_dilation2", randn(1, 2, 9, 9), 3, (3, 3), padding=(2, 2), dilation=(2, 2))
    case("conv2d_kernel_1x3", randn(1, 3, 5, 7), 2, (1, 3), padding=(0, 1))
    case("conv2d_kernel_3x1", randn(1, 3, 7, 5), 2, (3, 1), padding=(1, 0))
    case("conv2d_kernel_3x5_pad_1x2", randn(1, 2, 6, 9), 3, (3, 5), padding=(1, 2))
    case("conv2d_stride_2x1", randn(1, 2, 9, 6), 3, (3, 3), stride=(2, 1), padding=(1, 1))
    case("conv2d_stride3_odd", randn(1, 2, 11, 10), 2, (3, 3), stride=(3, 3), padding=(1, 1))
    case("conv2d_patchify_4x4", randn(1, 3, 12, 8), 5, (4, 4), stride=(4, 4))
    case("conv2d_patchify_nondivisible", randn(1, 3, 13, 9), 4, (4, 4), stride=(4, 4))
    case("conv2d_n3", randn(3, 2, 5, 5), 3, (3, 3), padding=(1, 1))
    case("conv2d_odd_hw", randn(1, 3, 13, 7), 5, (3, 3), padding=(1, 1))
    case("conv2d_c16_o8", randn(1, 16, 5, 5), 8, (3, 3), padding=(1, 1))
    case("conv2d_c1_o1", randn(1, 1, 5, 5), 1, (3, 3), padding=(1, 1))
    case("conv2d_h1", randn(1, 3, 1, 9), 4, (1, 3), padding=(0, 1))
    case("conv2d_1x1_spatial_k3_p1", randn(2, 2, 1, 1), 3, (3, 3), padding=(1, 1))
    case("conv2d_x_nhwc_permuted", In(randn(2, 6, 5, 3), [0, 3, 1, 2]), 4, (3, 3), padding=(1, 1))
    case("conv2d_x_nhwc_permuted_depthwise", In(randn(1, 5, 6, 4), [0, 3, 1, 2]), 4, (3, 3), stride=(2, 2),
         padding=(1, 1), groups=4, bias=False)


def gen_conv2d_bn():
    def case(name, x, O, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, bias=False,
             eps=1e-5):
        x = as_in(x)
        C = x.view().shape[1]
        w = In(randn(O, C // groups, kernel[0], kernel[1], scale=0.5))
        ins = [x, w]
        b = None
        if bias:
            b = In(randn(O, scale=0.5))
            ins.append(b)
        gamma = In(unif(0.5, 1.5, O))
        beta = In(randn(O, scale=0.3))
        mean = In(randn(O, scale=0.5))
        var = In(unif(0.5, 2.0, O))
        ins += [gamma, beta, mean, var]
        y = ref_conv2d(x.view(), w.view(), b.view() if b else None, stride, padding, dilation, groups)
        ref = ref_batchnorm(y, gamma.view(), beta.view(), mean.view(), var.view(), eps)
        attrs = {"stride": list(stride), "padding": list(padding), "dilation": list(dilation),
                 "groups": groups, "bias": bias, "eps": eps}
        add_case(name, "conv2d_bn", attrs, ins, [(ref, "float32")])

    case("conv2d_bn_3x3_p1", randn(1, 3, 6, 6), 4, (3, 3), padding=(1, 1))
    case("conv2d_bn_bias_s2", randn(1, 3, 7, 7), 4, (3, 3), stride=(2, 2), padding=(1, 1), bias=True)
    case("conv2d_bn_depthwise", randn(1, 4, 7, 7), 4, (3, 3), padding=(1, 1), groups=4)
    case("conv2d_bn_1x1_eps1e-3", randn(2, 5, 3, 4), 3, (1, 1), eps=1e-3)
    case("conv2d_bn_odd_s2", randn(1, 3, 7, 5), 5, (3, 3), stride=(2, 2), padding=(1, 1))
    case("conv2d_bn_c1_o1", randn(1, 1, 4, 4), 1, (1, 1), bias=True)
    case("conv2d_bn_x_nhwc_permuted", In(randn(1, 5, 5, 3), [0, 3, 1, 2]), 4, (3, 3), padding=(1, 1))


def gen_layer_norm():
    def case(name, x, eps=1e-5):
        x = as_in(x)
        D = x.view().shape[-1]
        w = In(unif(0.5, 1.5, D))
        b = In(randn(D, scale=0.5))
        ref = ref_layer_norm(x.view(), w.view(), b.view(), eps)
        add_case(name, "layer_norm", {"eps": eps}, [x, w, b], [(ref, "float32")])

    case("layer_norm_2d", randn(4, 16))
    case("layer_norm_odd", randn(3, 5, 13))
    case("layer_norm_d67", randn(2, 67, scale=2.0))
    case("layer_norm_d1", randn(5, 1))
    case("layer_norm_rows1", randn(1, 1, 9))
    case("layer_norm_eps1e-6", randn(2, 3, 8), eps=1e-6)
    case("layer_norm_eps1e-12", randn(3, 12), eps=1e-12)
    case("layer_norm_offset_mean", randn(4, 32, offset=20.0))
    case("layer_norm_permuted", In(randn(2, 7, 3), [0, 2, 1]))


def gen_softmax():
    special = randn(4, 6)
    special[1] = [1000.0, 999.0, -1000.0, 0.5, 998.0, 1000.0]
    special[2] = 3.0
    special[3] *= 5.0
    inputs = [
        ("last", special, -1),
        ("odd", randn(3, 5, 13, scale=2.0), -1),
        ("long", randn(2, 67, scale=3.0), -1),
        ("axis1_3d", randn(2, 5, 3), 1),
        ("axis0", randn(4, 3), 0),
        ("len1_axis", randn(3, 1), -1),
        ("size1_dims", randn(1, 1, 7), -1),
        ("permuted", In(randn(7, 3, 2), [2, 1, 0]), -1),
    ]
    for suffix, x, axis in inputs:
        x = as_in(x)
        add_case("softmax_" + suffix, "softmax", {"axis": axis}, [x],
                 [(ref_softmax(x.view(), axis), "float32")])
        add_case("log_softmax_" + suffix, "log_softmax", {"axis": axis}, [x],
                 [(ref_log_softmax(x.view(), axis), "float32")])


def gen_unary():
    spread = np.concatenate([
        np.linspace(-8.0, 8.0, 65),  # step 0.25: includes exact 0 and 6
        [30.0, -30.0, 100.0, -100.0, 0.0, 6.0, 5.999, 6.001, -1e-3, 1e-3],
    ]).astype(np.float32).reshape(5, 15)
    for op in UNARY:
        inputs = [
            ("spread", spread),
            ("len37", randn(37, scale=3.0)),
            ("len129", unif(-8.0, 8.0, 129)),
            ("size1_dims", randn(1, 13, 1, scale=3.0)),
            ("permuted_3d", In(unif(-8.0, 8.0, 3, 5, 7), [2, 0, 1])),
        ]
        for suffix, x in inputs:
            x = as_in(x)
            add_case(op + "_" + suffix, op, {}, [x], [(ref_unary(op, x.view()), "float32")])


def gen_attention():
    def case(name, q, k, v, causal=False, key_mask=None, scale=None):
        q, k, v = as_in(q), as_in(k), as_in(v)
        ins = [q, k, v]
        attrs = {"causal": causal, "key_mask": key_mask is not None}
        if scale is not None:
            attrs["scale"] = scale
        km = None
        if key_mask is not None:
            km_in = In(np.array(key_mask, dtype=np.float32))
            ins.append(km_in)
            km = km_in.view()
        ref = ref_attention(q.view(), k.view(), v.view(), km, causal, scale)
        add_case(name, "attention", attrs, ins, [(ref, "float32")])

    case("attention_self_l7", randn(1, 2, 7, 8), randn(1, 2, 7, 8), randn(1, 2, 7, 8))
    case("attention_causal_l5", randn(1, 2, 5, 4), randn(1, 2, 5, 4), randn(1, 2, 5, 4), causal=True)
    case("attention_causal_lq2_lk6", randn(1, 2, 2, 4), randn(1, 2, 6, 4), randn(1, 2, 6, 4), causal=True)
    case("attention_causal_decode_lq1_lk9", randn(1, 3, 1, 8), randn(1, 3, 9, 8), randn(1, 3, 9, 8),
         causal=True)
    case("attention_key_mask", randn(2, 2, 6, 4), randn(2, 2, 6, 4), randn(2, 2, 6, 4),
         key_mask=[[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    case("attention_key_mask_causal", randn(2, 1, 5, 4), randn(2, 1, 5, 4), randn(2, 1, 5, 4), causal=True,
         key_mask=[[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]])
    case("attention_b2_h3_d8_scale", randn(2, 3, 5, 8), randn(2, 3, 5, 8), randn(2, 3, 5, 8), scale=0.25)
    case("attention_d1", randn(1, 2, 4, 1), randn(1, 2, 4, 1), randn(1, 2, 4, 3))
    case("attention_dv5_scale", randn(1, 2, 3, 4), randn(1, 2, 6, 4), randn(1, 2, 6, 5), scale=0.5)
    case("attention_cross_lq6_lk3", randn(1, 2, 6, 4), randn(1, 2, 3, 4), randn(1, 2, 3, 4))
    case("attention_odd_lq13_lk7", randn(1, 1, 13, 5), randn(1, 1, 7, 5), randn(1, 1, 7, 3))
    case("attention_large_logits", randn(1, 1, 4, 4, scale=6.0), randn(1, 1, 4, 4, scale=6.0),
         randn(1, 1, 4, 4), scale=1.0)
    case("attention_lk1", randn(1, 1, 3, 2), randn(1, 1, 1, 2), randn(1, 1, 1, 4))
    case("attention_q_permuted", In(randn(2, 5, 3, 4), [0, 2, 1, 3]), randn(2, 3, 5, 4), randn(2, 3, 5, 4))
    case("attention_qkv_permuted_causal", In(randn(1, 6, 2, 4), [0, 2, 1, 3]),
         In(randn(1, 6, 2, 4), [0, 2, 1, 3]), In(randn(1, 6, 2, 4), [0, 2, 1, 3]), causal=True)


def gen_pools():
    def avg(name, x, kernel, stride, padding, count_include_pad=True):
        x = as_in(x)
        ref = ref_pool2d(x.view(), kernel, stride, padding, "avg", count_include_pad)
        attrs = {"kernel": list(kernel), "stride": list(stride), "padding": list(padding),
                 "count_include_pad": count_include_pad}
        add_case(name, "avg_pool2d", attrs, [x], [(ref, "float32")])

    def mx(name, x, kernel, stride, padding):
        x = as_in(x)
        ref = ref_pool2d(x.view(), kernel, stride, padding, "max")
        attrs = {"kernel": list(kernel), "stride": list(stride), "padding": list(padding)}
        add_case(name, "max_pool2d", attrs, [x], [(ref, "float32")])

    avg("avg_pool2d_2x2_s2", randn(1, 3, 8, 8), (2, 2), (2, 2), (0, 0))
    avg("avg_pool2d_3x3_s2_p1", randn(1, 2, 7, 7), (3, 3), (2, 2), (1, 1))
    avg("avg_pool2d_3x3_s2_p1_exclude_pad", randn(1, 2, 7, 7), (3, 3), (2, 2), (1, 1), count_include_pad=False)
    avg("avg_pool2d_3x3_s1_p1_exclude_pad_odd", randn(1, 1, 5, 6), (3, 3), (1, 1), (1, 1),
        count_include_pad=False)
    avg("avg_pool2d_odd_floor", randn(2, 3, 7, 5), (2, 2), (2, 2), (0, 0))
    avg("avg_pool2d_nonsquare", randn(1, 2, 6, 7), (3, 2), (1, 2), (1, 0))
    avg("avg_pool2d_to_1x1", randn(1, 1, 3, 3), (3, 3), (1, 1), (0, 0))
    avg("avg_pool2d_nhwc_permuted", In(randn(1, 6, 6, 3), [0, 3, 1, 2]), (2, 2), (2, 2), (0, 0))

    neg = -np.abs(randn(1, 2, 9, 9)) - 1.0
    mx("max_pool2d_resnet_stem", randn(1, 2, 9, 9), (3, 3), (2, 2), (1, 1))
    mx("max_pool2d_negative_padded", neg, (3, 3), (2, 2), (1, 1))
    mx("max_pool2d_2x2_s2", randn(1, 3, 8, 8), (2, 2), (2, 2), (0, 0))
    mx("max_pool2d_odd_floor", randn(2, 3, 7, 5), (2, 2), (2, 2), (0, 0))
    mx("max_pool2d_nonsquare", randn(1, 2, 7, 6), (3, 2), (2, 1), (1, 0))
    mx("max_pool2d_h1", randn(1, 1, 1, 5), (1, 3), (1, 1), (0, 1))
    mx("max_pool2d_nhwc_permuted", In(randn(1, 7, 7, 3), [0, 3, 1, 2]), (3, 3), (2, 2), (1, 1))


def gen_adaptive_avg_pool2d():
    def case(name, x, output):
        x = as_in(x)
        ref = ref_adaptive_avg_pool2d(x.view(), output)
        add_case(name, "adaptive_avg_pool2d", {"output": list(output)}, [x], [(ref, "float32")])

    case("adaptive_avg_pool2d_to_1x1", randn(2, 3, 5, 4), (1, 1))
    case("adaptive_avg_pool2d_7x5_to_2x3", randn(1, 2, 7, 5), (2, 3))
    case("adaptive_avg_pool2d_7x7_identity", randn(1, 2, 7, 7), (7, 7))
    case("adaptive_avg_pool2d_8x8_to_3x3", randn(1, 2, 8, 8), (3, 3))
    case("adaptive_avg_pool2d_13x11_to_5x4", randn(1, 1, 13, 11), (5, 4))
    case("adaptive_avg_pool2d_h1_to_1x3", randn(1, 3, 1, 7), (1, 3))
    case("adaptive_avg_pool2d_1x1_to_1x1", randn(1, 4, 1, 1), (1, 1))
    case("adaptive_avg_pool2d_nhwc_permuted", In(randn(1, 7, 5, 3), [0, 3, 1, 2]), (2, 2))


def gen_binary():
    for op, f in BINARY.items():
        def rhs(*shape):
            return away_from_zero(*shape) if op == "div" else randn(*shape)

        inputs = [
            ("same_shape", randn(3, 5), rhs(3, 5)),
            ("odd_3d", randn(3, 5, 7), rhs(3, 5, 7)),
            ("len37", randn(37), rhs(37)),
            ("row_broadcast", randn(4, 7), rhs(7)),
            ("outer_broadcast", randn(3, 1, 5), rhs(1, 4, 1)),
            ("channel_broadcast_4d", randn(2, 3, 4, 5), rhs(1, 3, 1, 1)),
            ("scalar_rhs", randn(2, 3, 5), rhs(1)),
            ("scalar_lhs", randn(1), rhs(3, 4)),
            ("a_permuted", In(randn(5, 3), [1, 0]), rhs(3, 5)),
            ("b_permuted_broadcast", randn(2, 3, 4), In(rhs(4, 3), [1, 0])),
        ]
        for suffix, a, b in inputs:
            a, b = as_in(a), as_in(b)
            add_case(op + "_" + suffix, op, {}, [a, b], [(f(a.view(), b.view()), "float32")])


def gen_concat():
    def case(name, xs, axis):
        xs = [as_in(x) for x in xs]
        ref = np.concatenate([x.view() for x in xs], axis=axis)
        add_case(name, "concat", {"axis": axis}, xs, [(ref, "float32")])

    case("concat_axis0", [randn(2, 3), randn(4, 3), randn(1, 3)], 0)
    case("concat_axis1", [randn(2, 3, 4), randn(2, 5, 4)], 1)
    case("concat_axis2_last", [randn(2, 3, 2), randn(2, 3, 5), randn(2, 3, 1)], 2)
    case("concat_axis_neg1", [randn(3, 4), randn(3, 3)], -1)
    case("concat_4d_channels", [randn(1, 2, 3, 3), randn(1, 3, 3, 3)], 1)
    case("concat_single_input", [randn(3, 4)], 0)
    case("concat_size1_dims", [randn(1, 1, 3), randn(1, 1, 4)], -1)
    case("concat_permuted", [In(randn(3, 2), [1, 0]), randn(2, 5)], 1)
    case("concat_permuted_axis0", [In(randn(4, 2, 3), [1, 2, 0]), randn(1, 3, 4)], 0)


def gen_split():
    def case(name, x, axis, sizes):
        x = as_in(x)
        v = x.view()
        assert sum(sizes) == v.shape[axis]
        outs = np.split(v, np.cumsum(sizes)[:-1], axis=axis)
        add_case(name, "split", {"axis": axis, "sizes": list(sizes)}, [x],
                 [(o, "float32") for o in outs])

    case("split_axis0", randn(6, 3), 0, [2, 4])
    case("split_last", randn(2, 3, 7), -1, [2, 3, 2])
    case("split_qkv", randn(2, 5, 12), 2, [4, 4, 4])
    case("split_4d_axis1", randn(1, 6, 2, 2), 1, [1, 2, 3])
    case("split_len1_pieces", randn(5, 1), 0, [2, 2, 1])
    case("split_single", randn(1, 5), 0, [1])
    case("split_permuted", In(randn(7, 3), [1, 0]), 1, [3, 4])


def gen_permute():
    def case(name, x, perm):
        x = as_in(x)
        ref = np.transpose(x.view(), perm)
        add_case(name, "permute", {"perm": list(perm)}, [x], [(ref, "float32")])

    case("permute_2d", randn(3, 5), [1, 0])
    case("permute_2d_odd", randn(7, 13), [1, 0])
    case("permute_3d", randn(2, 3, 4), [2, 0, 1])
    case("permute_4d_heads", randn(2, 5, 3, 4), [0, 2, 1, 3])
    case("permute_4d_nchw_to_nhwc", randn(1, 3, 4, 5), [0, 2, 3, 1])
    case("permute_4d_reverse", randn(2, 3, 4, 5), [3, 2, 1, 0])
    case("permute_identity", randn(3, 4), [0, 1])
    case("permute_size1_dims", randn(1, 5, 1, 3), [2, 3, 0, 1])
    case("permute_of_permuted", In(randn(3, 4, 5), [2, 0, 1]), [1, 2, 0])
    case("permute_of_permuted_4d", In(randn(2, 3, 4, 5), [0, 2, 1, 3]), [0, 3, 1, 2])


def tie_free(x):
    x = as_in(x)
    v = x.view()
    for r in v.reshape(-1, v.shape[-1]):
        assert len(set(r.tolist())) == r.size
    return x


def gen_argmax():
    def case(name, x, axis=-1):
        x = as_in(x)
        add_case(name, "argmax", {"axis": axis}, [x], [(ref_argmax(x.view(), axis), "int64")])

    case("argmax_2d", tie_free(randn(4, 10)))
    case("argmax_odd", tie_free(randn(3, 5, 13)))
    case("argmax_long", tie_free(randn(2, 257)))
    case("argmax_rows1", tie_free(randn(1, 7)))
    case("argmax_len1_axis", randn(4, 1))
    case("argmax_permuted", tie_free(In(randn(9, 3), [1, 0])))
    ties = np.array([
        [1.0, 3.0, 3.0, 2.0, 0.0],
        [5.0, 5.0, 5.0, 5.0, 5.0],
        [-1.0, -2.0, -1.5, -1.0, -3.0],
        [0.0, 0.5, 2.0, 0.5, 2.0],
    ], dtype=np.float32)
    case("argmax_ties_first_index", ties)


def gen_topk():
    def case(name, x, k, axis=-1):
        x = tie_free(x)
        vals, idxs = ref_topk(x.view(), k, axis)
        add_case(name, "topk", {"k": k, "axis": axis}, [x], [(vals, "float32"), (idxs, "int64")])

    case("topk_2d_k3", randn(4, 10), 3)
    case("topk_odd_k5", randn(3, 5, 13), 5)
    case("topk_k1", randn(3, 7), 1)
    case("topk_k_full", randn(2, 6), 6)
    case("topk_rows1", randn(1, 9), 4)
    case("topk_len1_k1", randn(3, 1), 1)
    case("topk_long", randn(2, 67), 10)
    case("topk_permuted", In(randn(11, 3), [1, 0]), 4)


def main():
    gen_matmul()
    gen_linear()
    gen_conv1d()
    gen_conv2d()
    gen_conv2d_bn()
    gen_layer_norm()
    gen_softmax()
    gen_unary()
    gen_attention()
    gen_pools()
    gen_adaptive_avg_pool2d()
    gen_binary()
    gen_concat()
    gen_split()
    gen_permute()
    gen_argmax()
    gen_topk()

    lines = ['{"generator": "scripts/gen-op-fixtures.py", "seed": %d,' % SEED, ' "cases": [']
    for i, c in enumerate(CASES):
        lines.append("  " + enc(c) + ("," if i + 1 < len(CASES) else ""))
    lines.append(" ]}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # sanity: valid JSON
    os.makedirs(os.path.dirname(OUT_PATH), exist_ok=True)
    with open(OUT_PATH, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print("wrote %s: %d cases, %d bytes" % (os.path.relpath(OUT_PATH, REPO_ROOT), len(CASES), len(text)))


if __name__ == "__main__":
    main()
