"""Forward convolutions that beat im2col + one GEMM per image (lower_conv.py's default), chosen per shape.

`lower_forward(lw, node, x, w)` is lower_conv's first step: the result of the conv node by one of the
three lowerings below, or None to leave the node to im2col/col2im. All use only Store and Matmul kernels
(the GEMM library), so the C library links them unchanged and gets the in-process bits.

- batched columns (`_batched`): small images (one image's columns under BATCH_COLUMNS elements and fewer
  than BATCH_POSITIONS output positions: LeNet-5's conv2) make the columns of every image at once,
  ordered [Cg·K, N, P], and ONE GEMM per group y'[O, N·P] = W[O, Cg·K] · cols, instead of one GEMM of N = P columns per image (P = 100 for LeNet's
  conv2: a 16×100×150 product is too small to split over the threads or to fill the 6×64 tiles). The
  result [O, N, P] is returned as a view [N, O, P] (the consumer reads it where it lies).
- Winograd F(2×2, 3×3) (`_winograd`, Lavin & Gray 2016): a 3×3 stride-1 convolution as 16 GEMMs
  M[ξν] = U[ξν] · V[ξν] with U = G·w·Gᵀ [16, O, C] (the filters transformed: the graph pass
  `winograd_filters` writes such a conv as conv_winograd(x, winograd_filter(w)), two internal ops of
  nnc/ops, so that in inference the transform of parameters runs once per load, nnc/passes/hoist.py) and
  V = Bᵀ·d·B [16, C, N·T] (4×4 input tiles d at stride 2, T tiles), then y = Aᵀ·M·A per 2×2 output tile:
  2.25× fewer multiply-adds than the direct product. Taken where measured faster (`winograd_pays`):
  channels at least WINO_MIN_CHANNELS and filters (O·C) at most WINO_MAX_FILTER (their per-call transform
  writes 16·O·C elements: ResNet-18's 512-channel filters made that cost more than it saved).
  f32 error: the transforms' coefficients are 0, ±1 and ±½, within the oracle tests' tolerance.
- column-strided im2col (`_strided`): a column stride s > 1 with wide kernels (the ResNet stem, 7×7
  stride 2): the padded input split by column index modulo s first, so that the columns are unit-stride
  copies (im2col's Window gathered every s-th element), all kernel columns in one Store.
"""
from __future__ import annotations

import os

from ...ir.graph import Node
from . import loops as L
from .dims import hint
from .loops import Const, Expr, Load, Map, Matmul, Store

# one image's columns (Cg·K·P elements) below BATCH_COLUMNS and its output positions P below
# BATCH_POSITIONS: every image's columns at once and one GEMM per group. LeNet-5 at batch 64, conv2
# (150·100): 16×6400×150 in one GEMM 149 µs on two threads against 64 GEMMs of 16×100×150, 301 µs (185
# against 210-226 µs under load 4); conv1 (25·784, 6×784×25 per image) gained nothing on its GEMM and its
# columns, 5 MB at once instead of 78 KB per image in cache, took 75 against 53 µs
BATCH_COLUMNS = 1 << 15
BATCH_POSITIONS = 256
# Winograd where both channel counts reach this and the filters (O·C) are at most WINO_MAX_FILTER
WINO_MIN_CHANNELS = 16
WINO_MAX_FILTER = 256 * 256
# column-strided convs with at least STRIDED_KERNEL kernel columns and STRIDED_POSITIONS output positions:
# `_strided` (below 16 positions lower_conv's im2col stores the columns [P, Cg·K] for dot products). The
# ResNet stem (7×7, stride 2): its columns about 195 -> 120 µs (fastest of 60 calls, load 3.3, noisy); a
# 3×3 stride-2 one (64 channels, 56×56) gained nothing: 42 µs of columns against 38 plus 25 for the split
STRIDED_KERNEL = 5
STRIDED_POSITIONS = 16
# an input expression costing more than this per element (loops.cost) is stored once before being split
# by column phase (each phase's Store would compute it again; a fused bias and ReLU cost 2)
RECOMPUTE = 8
# one image's transformed input (16·C·T elements) from this on: made image by image in a run-time loop
PER_IMAGE = 1 << 12
ENABLED = os.environ.get("NNC_CONV_FORWARD", "1") != "0"   # NNC_CONV_FORWARD=0: lower_conv.py's paths only

BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))   # input transform Bᵀ (4×4)
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))      # filter transform (4×3)
AT = ((1, 1, 1, 0), (0, 1, -1, -1))                                  # output transform Aᵀ (2×4)


def lower_forward(lw, node: Node, x: Expr, w: Expr) -> Expr | None:
    """The conv node's result by Winograd, column-strided im2col or batched columns where those pay (f32,
    f64; no input dilation or cropping; every size but the batch known), else None: lower_conv's paths."""
    if not ENABLED:
        return None
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    if dtype not in ("f32", "f64") or any(d != 1 for d in node.attr("lhs_dilation")):
        return None
    if any(a < 0 for pair in node.attr("padding") for a in pair):
        return None
    if not all(isinstance(s, int) for s in tuple(x.shape[1:]) + tuple(w.shape) + tuple(shape[1:])):
        return None
    if winograd_fits(node, w.shape) and winograd_pays(x.shape[1], w.shape[0]):
        return _winograd(lw, node, x, w)
    o, cg = w.shape[:2]
    positions = L.numel(shape[2:])
    if strided_fits(node, w.shape) and positions >= STRIDED_POSITIONS:
        return _strided(lw, node, x, w)
    if hint(cg * L.numel(w.shape[2:]) * positions) < BATCH_COLUMNS and 16 <= positions < BATCH_POSITIONS \
            and lw.step_loop is None:
        return _batched(lw, node, x, w)
    return None


def winograd_fits(node: Node, w_shape: tuple) -> bool:
    """Whether F(2×2, 3×3) computes this conv: 2-d, a 3×3 kernel, stride and kernel dilation 1, one group."""
    return (len(w_shape) == 4 and tuple(w_shape[2:]) == (3, 3) and node.attr("groups", 1) == 1
            and all(s == 1 for s in node.attr("stride")) and all(d == 1 for d in node.attr("rhs_dilation")))


def strided_fits(node: Node, w_shape: tuple) -> bool:
    """Whether `_strided` takes this conv: 2-d, one group, a column stride > 1, STRIDED_KERNEL kernel columns."""
    return (len(w_shape) == 4 and node.attr("groups", 1) == 1 and node.attr("stride")[1] > 1
            and w_shape[3] >= STRIDED_KERNEL)


def winograd_pays(c: int, o: int) -> bool:
    """Whether Winograd was measured faster than im2col for C input and O output channels."""
    return min(c, o) >= WINO_MIN_CHANNELS and c * o <= WINO_MAX_FILTER


def _padded(lw, x: Expr, lo: tuple, size: tuple) -> Load:
    """x [N, C, H...] inside zeros [N, C, size...] at offset lo (a padded copy, stored once: zeros, then x
    into its interior, computing x there when it is an expression)."""
    buf = lw.new_buf(x.dtype, tuple(x.shape[:2]) + tuple(size))
    if tuple(size) == tuple(x.shape[2:]):
        lw.emit(Store(buf.load(), x))
        return buf.load()
    lw.emit(Store(buf.load(), L.broadcast(Const(0.0, x.dtype, ()), buf.shape)))
    inner = buf.load()
    for d, (a, n) in enumerate(zip(lo, x.shape[2:])):
        inner = L.sub_axis(inner, 2 + d, a, n)
    lw.emit(Store(inner, x))
    return buf.load()


def _split_columns(lw, x: Expr, lo: tuple, hp: int, half: int, phases: int = 2) -> Load:
    """x [N, C, H, W] padded (lo before, zeros to hp rows and phases·half columns) with its columns split by
    their index modulo `phases`, [N, C, hp, phases, half]: column w lands in phase (lo[1] + w) % phases at
    (lo[1] + w) // phases. A read of every phases-th column is then a unit-stride read."""
    n, c, h, wd = x.shape
    if L.cost(x) > RECOMPUTE:   # each phase's Store reads x: computed once instead of `phases` times
        x = lw.materialize(x)
    buf = lw.new_buf(x.dtype, (n, c, hp, phases, half))
    lw.emit(Store(buf.load(), L.broadcast(Const(0.0, x.dtype, ()), buf.shape)))
    pairs: dict[int, list] = {}   # one Store per column count writes every phase of that many columns
    for q in range(phases):
        w0 = (q - lo[1]) % phases
        count = len(range(w0, wd, phases))
        if count == 0 or h == 0:
            continue
        target = L.view(buf.load(), (n, c, h, count), ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 0),
                                                     (0, 0, 0, 1)), (0, 0, lo[0], q, (lo[1] + w0) // phases))
        pairs.setdefault(count, []).append((target, L.sub_axis(x, 3, w0, count, phases)))
    for same in pairs.values():
        lw.emit(Store(same[0][0], same[0][1], "", tuple(same[1:])))
    return buf.load()


def _slab(size):
    """The distance between two of the 16 transformed slabs: their size and one cache line more, so that
    the 16 streams a transform kernel reads or writes together do not fall on one cache set (slabs a
    multiple of 4 KB apart thrashed L1: ResNet's 64 x 784 floats)."""
    return size + 16


def _combine(coefs, xs: list, dtype: str, shape: tuple) -> Expr:
    """Σ coefs[i]·xs[i] as one expression (coefficients 0 and ±1 add nothing and cost no multiply)."""
    out = None
    for cf, x in zip(coefs, xs):
        if cf == 0:
            continue
        if abs(cf) != 1:
            x = Map("mul", (x, Const(float(abs(cf)), dtype, shape)), dtype, shape)
        if out is None:
            out = x if cf > 0 else Map("neg", (x,), dtype, shape)
        else:
            out = Map("add" if cf > 0 else "sub", (out, x), dtype, shape)
    return out if out is not None else Const(0.0, dtype, shape)


def _strided(lw, node: Node, x: Expr, w: Expr) -> Expr:
    """im2col for a column stride s > 1: the padded input with its columns split by index modulo s
    (`_split_columns`), so that each kernel column's columns cols[n, c, kh, kw, oh, ow] are a unit-stride
    copy (im2col's Window read every s-th element: the ResNet stem's 7×7 stride-2 columns, 7.4 MB, were
    gathered); one Store writes every kernel column (rows over oh, split over the threads), then per
    image the GEMM y = W · cols, as lower_conv's im2col."""
    w = lw.contiguous(w)
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    oh, ow = shape[2:]
    (sh, sw), (rh, rw) = node.attr("stride"), node.attr("rhs_dilation")
    lo = tuple(p[0] for p in node.attr("padding"))
    full = tuple(s + p[0] + p[1] for s, p in zip(x.shape[2:], node.attr("padding")))
    half = -(-full[1] // sw)
    xs = _split_columns(lw, x, lo, full[0], half, sw)
    kt, pt = kh * kw, oh * ow
    per = lw.step_loop is None and hint(c * kt * pt) >= PER_IMAGE
    nb = 1 if per else n
    buf = lw.new_buf(dtype, shape, vid)
    s_n, s_c, s_h = c * full[0] * sw * half, full[0] * sw * half, sw * half

    def body(i) -> None:
        cols = lw.new_buf(dtype, (nb, c, kh, kw, oh, ow))
        view = (oh, nb, c, kh, ow)
        pairs = []
        for j in range(kw):
            q, shift = (j * rw) % sw, (j * rw) // sw
            src = Load(xs.buf, view, (sh * s_h, s_n, s_c, rh * s_h, 1), xs.offset + i * s_n + q * half + shift)
            pairs.append((Load(cols, view, (ow, c * kt * pt, kt * pt, kw * pt, 1), j * pt), src))
        lw.emit(Store(pairs[0][0], pairs[0][1], "", tuple(pairs[1:])))
        a = Load(w.buf, (nb, o, c * kt), (0, c * kt, 1), w.offset)
        b = Load(cols, (nb, c * kt, pt), (c * kt * pt, pt, 1), 0)
        lw.emit(Matmul(Load(buf, (nb, o, pt), (o * pt, pt, 1), i * o * pt), a, b))
    if per:
        with lw.loop(n) as i:
            body(i)
    else:
        body(0)
    return buf.load()


def _batched(lw, node: Node, x: Expr, w: Expr) -> Expr:
    """Columns cols[(c, k), n, p] of every image, one GEMM per group into y' [O, N, P], y = y' viewed."""
    w = lw.contiguous(w)
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    sp = len(shape) - 2
    n, groups = x.shape[0], node.attr("groups", 1)
    o, cg = w.shape[:2]
    kernel, out_sp = tuple(w.shape[2:]), tuple(shape[2:])
    og, kt, pt = o // groups, L.numel(kernel), L.numel(out_sp)
    stride, rd = node.attr("stride"), node.attr("rhs_dilation")
    lo = tuple(p[0] for p in node.attr("padding"))
    hi = tuple(p[1] for p in node.attr("padding"))
    if any(lo) or any(hi):
        x = _padded(lw, x, lo, tuple(s + a + b for s, a, b in zip(x.shape[2:], lo, hi)))
    else:
        x = lw.materialize(x)
    cols_shape = (cg,) + kernel + (n,) + out_sp
    q = len(cols_shape)
    out = lw.new_buf(dtype, (o, n) + out_sp)
    for g in range(groups):
        # x's index (n, c, h...) from the columns' (c, k..., n, p...)
        mat = [[int(j == 1 + sp) for j in range(q)], [int(j == 0) for j in range(q)]]
        for d in range(sp):
            mat.append([rd[d] if j == 1 + d else stride[d] if j == 2 + sp + d else 0 for j in range(q)])
        win = L.Window(x, cols_shape, tuple(map(tuple, mat)), (0, g * cg) + (0,) * sp, (1,) * (2 + sp), 0.0)
        cols = lw.new_buf(dtype, cols_shape)
        lw.emit(Store(cols.load(), win))
        a = Load(w.buf, (1, og, cg * kt), (0, cg * kt, 1), w.offset + g * og * cg * kt)
        b = Load(cols, (1, cg * kt, n * pt), (0, n * pt, 1), 0)
        lw.emit(Matmul(Load(out, (1, og, n * pt), (0, n * pt, 1), g * og * n * pt), a, b))
    return L.transpose(out.load(), (1, 0) + tuple(range(2, 2 + sp)))


def _winograd(lw, node: Node, x: Expr, w: Expr) -> Expr:
    """F(2×2, 3×3) of a conv node whose filters were not transformed ahead (a graph the pass
    `winograd_filters` did not see): U = G·w·Gᵀ per call, then `_winograd_main`."""
    w = lw.contiguous(w)
    o, c = w.shape[:2]
    su = _slab(o * c)
    u = lw.new_buf(w.dtype, (16, su))
    _filter_transform(lw, w, u, su)
    return _winograd_main(lw, node, x, Load(u, (16, o, c), (su, c, 1), 0))


def _filter_transform(lw, w: Load, u, su: int) -> None:
    """U[ξν, o, c] = Σ_ab G[ξ, a] G[ν, b] w[o, c, a, b] into buffer u (slab ξν at ξν·su), as r = G·w first
    (shared by the four ν): one Store writing the 16 slabs."""
    o, c = w.shape[:2]
    dtype, oc = w.dtype, (o, c)
    wk = [[L.view(w, oc, ((1, 0), (0, 1), (0, 0), (0, 0)), (0, 0, a, b)) for b in range(3)] for a in range(3)]
    r = [[_combine([G[xi][a] for a in range(3)], [wk[a][b] for a in range(3)], dtype, oc) for b in range(3)]
         for xi in range(4)]
    pairs = [(Load(u, oc, (c, 1), (4 * xi + nu) * su), _combine(G[nu], r[xi], dtype, oc))
             for xi in range(4) for nu in range(4)]
    lw.emit(Store(pairs[0][0], pairs[0][1], "", tuple(pairs[1:])))


def _winograd_main(lw, node: Node, x: Expr, u: Load) -> Expr:
    """F(2×2, 3×3) from transformed filters u [16, O, C] (a Load, each slab contiguous): V = Bᵀ·d·B per
    4×4 tile d (image by image when large), 16 GEMMs M = U·V, y = Aᵀ·M·A per 2×2 output tile."""
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    n, c = x.shape[:2]
    o = u.shape[1]
    h, wd = shape[2:]
    th, tw = -(-h // 2), -(-wd // 2)
    t = th * tw
    lo = tuple(p[0] for p in node.attr("padding"))
    xp = _split_columns(lw, x, lo, 2 * th + 2, tw + 1)   # [N, C, Hp, 2, Wp/2]
    hp, half = xp.shape[2], xp.shape[4]

    per = lw.step_loop is None and hint(16 * c * t) >= PER_IMAGE
    nb = 1 if per else n
    yb = lw.new_buf(dtype, shape, vid) if (h, wd) == (2 * th, 2 * tw) else \
        lw.new_buf(dtype, (n, o, 2 * th, 2 * tw))
    hy, wy = yb.shape[2:]
    sv, sm = _slab(c * nb * t), _slab(o * nb * t)
    v = lw.new_buf(dtype, (16, sv))
    m = lw.new_buf(dtype, (16, sm))

    def body(i) -> None:
        # V[ξν, c, n, th, tw] = Σ_ij Bᵀ[ξ, i] Bᵀ[ν, j] xp[n, c, 2th + i, 2tw + j], as Bᵀ·d first
        sh = (c, nb, th, tw)
        plane = 2 * hp * half
        d = [[Load(xp.buf, sh, (plane, c * plane, 4 * half, 1), i * c * plane + a * 2 * half + (b % 2) * half + b // 2)
              for b in range(4)] for a in range(4)]
        rows = [[_combine(BT[xi], [d[a][b] for a in range(4)], dtype, sh) for b in range(4)] for xi in range(4)]
        vs = L.contiguous_strides(sh)
        pairs = [(Load(v, sh, vs, (4 * xi + nu) * sv), _combine(BT[nu], rows[xi], dtype, sh))
                 for xi in range(4) for nu in range(4)]
        lw.emit(Store(pairs[0][0], pairs[0][1], "", tuple(pairs[1:])))
        lw.emit(Matmul(Load(m, (16, o, nb * t), (sm, nb * t, 1), 0), u, Load(v, (16, c, nb * t), (sv, nb * t, 1), 0)))
        # y[n, o, 2th + a, 2tw + b] = Σ_ξν Aᵀ[a, ξ] Aᵀ[b, ν] M[ξν, o, n, th, tw], as Aᵀ·M first
        so = (o, nb, th, tw)   # channels outermost: the axis split over the threads
        mk = [[Load(m, so, (nb * th * tw, th * tw, tw, 1), (4 * xi + nu) * sm) for nu in range(4)]
              for xi in range(4)]
        s = [[_combine(AT[a], [mk[xi][nu] for xi in range(4)], dtype, so) for nu in range(4)] for a in range(2)]
        ys = (hy * wy, o * hy * wy, 2 * wy, 2)
        pairs = [(Load(yb, so, ys, i * o * hy * wy + a * wy + b), _combine(AT[b], s[a], dtype, so))
                 for a in range(2) for b in range(2)]
        lw.emit(Store(pairs[0][0], pairs[0][1], "", tuple(pairs[1:])))
    if per:
        with lw.loop(n) as i:
            body(i)
    else:
        body(0)
    y = yb.load()
    if (hy, wy) != (h, wd):
        y = L.sub_axis(L.sub_axis(y, 2, 0, h), 3, 0, wd)
    return y


# -- the filter transform as a graph op: hoisted to load time in inference graphs ----------------------

def winograd_filters(graph):
    """The llvm backend's graph pass: every conv Winograd would lower (`winograd_node`) written as
    conv_winograd(x, winograd_filter(w)) (nnc/ops), so that where w comes from parameters alone the
    transform U = G·w·Gᵀ is computed once per load (nnc/passes/hoist.py) instead of on every call (ResNet-18's
    stage-3 filters: 185 of the layer's 1044 µs). The graph is decomposed to primitives first (the convs
    are conv2d layers before); the kernels per call are the same as without the pass."""
    if not ENABLED:
        return graph
    from ...passes.decompose import decompose
    from ...passes.rewrite import rewrite
    from . import BACKEND
    graph = decompose(graph, BACKEND.primitives)
    todo = {id(n) for n in graph.nodes if winograd_node(graph, n)}
    if not todo:
        return graph

    def replace(emit, node, ins):
        if id(node) not in todo:
            return None
        u = emit.resolved("winograd_filter", ins[1])
        return [emit.resolved("conv_winograd", ins[0], u, padding=tuple(tuple(p) for p in node.attr("padding")))]
    return rewrite(graph, replace)[0]


def winograd_node(graph, node: Node) -> bool:
    """Whether lower_forward would take F(2×2, 3×3) for this graph node (the same tests, on its types)."""
    if node.op != "conv" or len(node.inputs) != 2:
        return False
    x, w, y = graph.type_of(node.inputs[0]), graph.type_of(node.inputs[1]), graph.type_of(node.outputs[0])
    if y.dtype not in ("f32", "f64") or x.rank != 4 or any(d != 1 for d in node.attr("lhs_dilation")):
        return False
    if any(a < 0 for pair in node.attr("padding") for a in pair):
        return False
    if not all(isinstance(s, int) for s in tuple(x.shape[1:]) + tuple(w.shape) + tuple(y.shape[1:])):
        return False
    return winograd_fits(node, w.shape) and winograd_pays(x.shape[1], w.shape[0])


def lower_winograd_filter(lw, node: Node, xs: list) -> Expr:
    """winograd_filter(w): U [16, O, C] into the node's buffer (the prepare step's output when hoisted). A
    cheap w (a folded batchnorm's w·scale) is computed where read, not stored first: one kernel less to
    compile per filter shape (each 12-13 ms of LLVM at ResNet's sizes)."""
    w = xs[0] if L.cost(xs[0]) <= RECOMPUTE else lw.contiguous(xs[0])
    o, c = w.shape[:2]
    u = lw.new_buf(w.dtype, (16, o, c), node.outputs[0])
    _filter_transform(lw, w, u, o * c)
    return u.load()


def lower_conv_winograd(lw, node: Node, xs: list) -> Expr:
    """conv_winograd(x, u): F(2×2, 3×3) from the transformed filters u [16, O, C]."""
    return _winograd_main(lw, node, xs[0], lw.contiguous(xs[1]))


LOWERINGS = {"winograd_filter": lower_winograd_filter, "conv_winograd": lower_conv_winograd}
