"""The convolution lowering (op `conv`, which also carries both gradients of a convolution): GEMMs fed by
im2col, or followed by col2im where that moves less data. lower.py's table maps `conv` to `lower_conv`.

A `conv` node computes  y[n, o, p] = Σ_{c, k} w[o, c, k] · x̃[n, g·Cg + c, p·stride + k·rd − lo]  per group g,
x̃ being x with `lhs_dilation − 1` zeros between its elements. Autodiff (nnc/ops/conv.py) writes the input
gradient as such a conv of the padded, dilated output gradient with the flipped kernel, and the weight
gradient as one with batch and channels swapped and the output gradient as the kernel. Two lowerings:

- im2col (forward convolutions, weight gradients): the input padded once (zeros, then x into the interior;
  cropping and input dilation through a `Window`), the columns cols[n, (c, k), p] stored from a `Window`
  without bounds tests, then per image and group one GEMM y[n] = W[og, Cg·K] · cols[n] with B's rows
  contiguous (the GEMM library's packed path) and the output in NCHW order. A weight gradient has few
  output positions (P = the forward kernel) and a huge reduction (Cg·K = batch × forward output
  positions): the same orientation, B rows of P elements, except below one vector (P < ROWS_BELOW) where
  the columns are stored [n, P, Cg·K] and the GEMM is dot products along Cg·K.
- col2im (stride 1, and an input dilation or the output's columns O·K·I fewer than half the input's
  Cin·K·P: input gradients): dcols[n, (c, k), i] = Σ_o w[c, o, k] · x[n, o, i], one GEMM per image over
  the input's positions i (no padded copy, no zeros multiplied: for lenet5's conv2 half the FLOPs and a
  fifth of the data of im2col on the padded gradient), then added into y, y[n, c, i·ld + lo − k·rd] +=
  dcols[n, c, k, i]: without input dilation by one `Col2Im` kernel (col2im.py), else one add per kernel
  position over the range of i that lands inside (`_scatter_strided`).
- col2im without input dilation (`_col2im_all`): per image and group a GEMM over the image's positions
  and one `Col2Im` pass (col2im.py) while the columns are in cache (no widened rows, no zeros
  multiplied, no add kernel per kernel position); small ones over all images at once.
- A weight gradient whose columns over every image stay within MERGED_MAX elements: ONE GEMM of dot
  products over every image's columns (`_weight_gemm`), on the forward's columns where an earlier Store
  made them (`_stored_columns`).
- Image by image: where one image's columns reach PER_IMAGE elements, the columns and GEMMs (and col2im's
  adds) run in a run-time step loop over the images: one image's columns, in cache for its GEMM.
"""
from __future__ import annotations

import itertools

from ...ir.graph import Node
from . import loops as L
from .conv_forward import lower_forward
from .dims import Poly, difference, hint
from .loops import Const, Expr, Load, Map, Matmul, Store
from .col2im import Col2Im

# one image's columns from this many elements on: made image by image in a run-time loop (measured on
# lenet5's training step at batch 64: 3.07 against 3.68 ms, one thread; a loop of small kernels costs little)
PER_IMAGE = 1 << 12
# a weight gradient's columns are stored [N, P, Cg·K] (the GEMM: dot products along Cg·K) when its output
# has fewer positions than one f32 vector, P < 16 (1x1 and 3x3 kernels: the library's 16-wide tiles would
# be mostly empty; measured ResNet-18 shapes at batch 8: 127 against 155 ms for y, dx, dw of a 3x3 conv,
# a 1x1 stride-2 one 0.61 against 2.26 ms at batch 1); from 16 on [N, Cg·K, P], B's rows contiguous
ROWS_BELOW = 16
# a weight gradient's columns, all images' together, up to this many elements (at the size hint): stored at
# once for one GEMM (`_weight_gemm`; lenet5's are 0.96M and 1.25M); beyond, image by image as above
MERGED_MAX = 1 << 22


def lower_conv(lw, node: Node, xs: list[Expr]) -> Expr:
    """The conv node's result: col2im where it pays (`_transposed`), else im2col and a GEMM."""
    x, w = xs
    y = lower_forward(lw, node, x, w)  # conv_forward.py: Winograd, strided or batched columns, where those pay
    if y is not None:
        return y
    if _transposed(node, x, w, lw.shape(node.outputs[0])):
        return _col2im(lw, node, x, w)
    return _im2col(lw, node, x, w)


def _transposed(node: Node, x: Expr, w: Expr, shape: tuple) -> bool:
    """Whether col2im moves less data: stride 1, every spatial size known, and x dilated (im2col would
    multiply its zeros) or the columns of the output (O·K·I, read once and added twice) fewer than half
    those of the input (Cin·K·P): an input gradient, whose output has more positions or channels."""
    sizes = tuple(x.shape[2:]) + tuple(shape[2:])
    if any(s != 1 for s in node.attr("stride")) or not all(isinstance(s, int) for s in sizes):
        return False
    if any(d > 1 for d in node.attr("lhs_dilation")):
        return True
    return 2 * hint(w.shape[0]) * L.numel(x.shape[2:]) < hint(x.shape[1]) * L.numel(shape[2:])


def _im2col(lw, node: Node, x: Expr, w: Expr) -> Expr:
    """Per group: the columns (a `Window` stored once) and a GEMM with the weights as A, so the output
    lands in NCHW order without a transpose."""
    w = _contiguous_once(lw, w, (x,))
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    sp = len(shape) - 2
    n, groups = x.shape[0], node.attr("groups", 1)
    o, cg = w.shape[:2]
    kernel, out_sp = w.shape[2:], shape[2:]
    og, kt, pt = o // groups, L.numel(kernel), L.numel(out_sp)
    stride, rd, ld = node.attr("stride"), node.attr("rhs_dilation"), node.attr("lhs_dilation")
    lo = tuple(p[0] for p in node.attr("padding"))
    hi = tuple(p[1] for p in node.attr("padding"))
    if all(a >= 0 for a in lo + hi) and all(d == 1 for d in ld) and (any(lo) or any(hi)):
        # the padded input stored once, as zeros and then x into its interior (two vectorised loops; x
        # computed there when it is an expression): im2col then reads it without a bounds test
        padded = lw.new_buf(dtype, tuple(x.shape[:2]) + tuple(s + a + b for s, a, b in zip(x.shape[2:], lo, hi)))
        lw.emit(Store(padded.load(), L.broadcast(Const(0.0, dtype, ()), padded.shape)))
        inner = padded.load()
        for d in range(sp):
            inner = L.sub_axis(inner, 2 + d, lo[d], x.shape[2 + d])
        lw.emit(Store(inner, x))
        x, lo = padded.load(), (0,) * sp
    elif any(lo) or any(hi) or any(d > 1 for d in ld):
        # the padded (cropped, zero-dilated) input, stored once: im2col then reads it without a bounds test
        padded = x.shape[:2] + tuple((size - 1) * d + 1 + a + b for size, d, a, b in zip(x.shape[2:], ld, lo, hi))
        r = len(padded)
        x = lw.materialize(L.Window(x, padded, tuple(tuple(int(i == j) for j in range(r)) for i in range(r)),
                                    (0, 0) + tuple(-a for a in lo), (1, 1) + tuple(ld), 0.0))
        lo, ld = (0,) * sp, (1,) * sp
    elif L.cost(x) > 0:
        x = lw.materialize(x)
    if groups == 1 and _weight_gradient(n, cg, kt, pt):
        return _weight_gemm(lw, x, w, kernel, out_sp, stride, rd, ld, lo)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    # cols [N, Cg·K, P]: B of each image's GEMM with its rows contiguous, also for a weight gradient's few
    # output positions (P = 25 for a 5x5 kernel): the library's packed path measured 2.6-3x faster there
    # than dot products along Cg·K over columns stored [N, P, Cg·K] (lenet5's two weight gradients); below
    # P = ROWS_BELOW those dot products.
    # Large columns are made one image at a time in a run-time loop (a step loop of the entry point): one
    # image's columns, still in cache for its GEMM, instead of N images' (462 MB for a ResNet 3x3 at N = 64)

    by_rows = hint(pt) < ROWS_BELOW and hint(cg * kt) >= 32

    def gemms(i, nb, one: bool) -> None:
        cols_shape = (nb, cg) + tuple(kernel) + tuple(out_sp)
        src = L.sub_axis(x, 0, i, 1) if one else x
        for g in range(groups):
            win = _columns(src, cols_shape, stride, rd, ld, lo, g * cg)
            if by_rows:  # stored as [N, P..., Cg, K...]: B's columns contiguous, dot products along Cg·K
                cols = lw.new_buf(dtype, (nb,) + tuple(out_sp) + (cg,) + tuple(kernel))
                perm = (0,) + tuple(range(2 + sp, 2 + 2 * sp)) + (1,) + tuple(range(2, 2 + sp))
                lw.emit(Store(cols.load(), L.transpose(win, perm)))
                b = Load(cols, (nb, cg * kt, pt), (cg * kt * pt, 1, cg * kt), 0)
            else:
                cols = lw.new_buf(dtype, cols_shape)
                lw.emit(Store(cols.load(), win))
                b = Load(cols, (nb, cg * kt, pt), (cg * kt * pt, pt, 1), 0)
            a = Load(w.buf, (nb, og, cg * kt), (0, cg * kt, 1), w.offset + g * og * cg * kt)
            lw.emit(Matmul(Load(buf, (nb, og, pt), (o * pt, pt, 1), i * o * pt + g * og * pt), a, b))
    if _per_image(lw, cg * kt * pt):
        with lw.loop(n) as i:
            gemms(i, 1, True)
    else:
        gemms(0, n, False)
    return buf.load()


def _columns(src: Expr, cols_shape: tuple, stride, rd, ld, lo, channel: int = 0) -> L.Window:
    """im2col's columns cols[n, c, k..., p...] = x̃[n, channel + c, p·stride + k·rd − lo] as a Window over
    src (x̃: src with `ld − 1` zeros between its elements, 0 outside it)."""
    q, sp = len(cols_shape), len(cols_shape) // 2 - 1
    mat = [[int(j == 0) for j in range(q)], [int(j == 1) for j in range(q)]]
    for d in range(sp):
        row = [0] * q
        row[2 + d], row[2 + sp + d] = rd[d], stride[d]
        mat.append(row)
    const = (0, channel) + tuple(-a for a in lo)
    return L.Window(src, cols_shape, tuple(map(tuple, mat)), const, (1, 1) + tuple(ld), 0.0)


def _contiguous_once(lw, x: Expr, others: tuple = ()) -> Load:
    """lw.contiguous(x), but a strided view of a buffer copied once per lowering: an input gradient's
    transposed output gradient [O, N, I...] is also its weight gradient's A (lenet5's conv2: two copies of
    16x64x10x10). The copy is reused only while no later kernel wrote the buffer, outside step loops.
    `others`: expressions the caller still reads as they are (`_relayout` leaves their buffers alone)."""
    if not isinstance(x, Load) or x.contiguous or lw.step_loop is not None:
        return lw.contiguous(x)
    memo = lw.__dict__.setdefault("conv_copies", {})
    relaid = None if any(b is x.buf for e in others for b in L.leaves(e)) else _relayout(lw, x, memo)
    if relaid is not None:
        return relaid
    key = (id(x.buf), x.offset, tuple(x.shape), tuple(x.strides))
    hit = memo.get(key)
    if hit is not None:
        copy, at = hit
        later = lw.kernels[at:]
        if all(t.buf is not x.buf and t.buf is not copy.buf for k in later for t in k.targets()):
            return copy
    copy = lw.contiguous(x)
    memo[key] = (copy, len(lw.kernels))
    return copy


def _relayout(lw, x: Load, memo: dict) -> Load | None:
    """x, a permuted view of a whole scratch buffer that one earlier Store wrote contiguously and nothing
    has read since, made contiguous by having that Store write in x's order instead: its target becomes the
    strided view, and the values in lw.env reading the buffer (permuted views of it) read it there. No copy:
    the output gradient an elementwise kernel just made (batchnorm's backward before fashion_cnn's first
    conv) is stored [C, N, H, W] for the weight gradient's GEMM, where it was stored [N, C, H, W] and copied
    transposed (6.4 MB each way). None where any other kernel touches the buffer, a value reads it other
    than as a permuted view, or a step loop or a graph output is involved."""
    buf = x.buf
    if not any(b is buf for b in lw.scratch) or any(id(buf) == key[0] for key in memo):
        return None
    touching = [j for j, k in enumerate(lw.kernels)
                if any(t.buf is buf for t in k.targets()) or any(b is buf for b in k.reads())]
    if len(touching) != 1:
        return None
    k = lw.kernels[touching[0]]
    t = k.target
    if not isinstance(k, Store) or k.more or k.loop is not None or k.when is not None or t.buf is not buf or \
            difference(t.offset, 0) != 0 or not t.contiguous or \
            difference(L.numel(t.shape), L.numel(buf.shape)) != 0:
        return None
    perm = _axes_of(x, t)
    views = {vid: _axes_of(v, t) for vid, v in lw.env.items() if any(b is buf for b in L.leaves(v))}
    if perm is None or any(p is None for p in views.values()) or \
            any(any(b is buf for b in L.leaves(v)) for v in lw.ahead.values()):
        return None
    want = L.contiguous_strides(tuple(x.shape))
    strides = [0] * len(perm)
    for a, j in enumerate(perm):
        strides[j] = want[a]
    k.target = Load(buf, tuple(t.shape), tuple(strides), 0)
    for vid, axes in views.items():
        v = lw.env[vid]
        lw.env[vid] = Load(buf, tuple(v.shape), tuple(strides[j] for j in axes), 0)
    return Load(buf, tuple(x.shape), want, 0)


def _axes_of(v, t: Load) -> list[int] | None:
    """For a Load v that reads t's buffer as a permutation of t's axes (offset 0), t's axis behind each of
    v's axes (the same size and stride); None for anything else."""
    if not isinstance(v, Load) or v.buf is not t.buf or difference(v.offset, 0) != 0 or len(v.shape) != len(t.shape):
        return None
    axes: list[int] = []
    for size, stride in zip(v.shape, v.strides):
        match = [j for j, (s2, st2) in enumerate(zip(t.shape, t.strides))
                 if j not in axes and difference(s2, size) == 0 and difference(st2, stride) == 0]
        if len(match) != 1:
            return None
        axes.append(match[0])
    return axes


def _weight_gradient(n, cg, kt, pt) -> bool:
    """Whether a conv is a weight gradient (nnc/ops/conv.py's weight_grad: x's batch and channels swapped,
    so the channel axis is the run-time batch and the image axis a count of channels) whose columns, all
    images' together, are small enough (MERGED_MAX) to be stored at once for `_weight_gemm`."""
    return isinstance(cg, Poly) and not isinstance(n, Poly) and hint(n * cg * kt * pt) <= MERGED_MAX


def _weight_gemm(lw, x: Expr, w: Load, kernel: tuple, out_sp: tuple, stride, rd, ld, lo) -> Expr:
    """A weight gradient as ONE GEMM: y[c, o, p] = Σ_{n, k} w[o, n, k] · x[c, n, p·stride + k·rd − lo] over all
    images c (the forward's channels) at once: the columns cols[p, c, n, k] (rows of the source, the
    longest contiguous runs: 10 floats for lenet5's conv2, 28 for conv1, against 5 stored [n, k, p]; the
    outer axis p splits over the threads) and dot products along n·k (the library's dot path: A = w's
    rows, B = cols' rows), the output [O, P, C]: returned as the view [C, O, P], so the transpose to dW
    that autodiff writes next reads it where it lies."""
    dtype = w.dtype
    n, cg = x.shape[0], x.shape[1]
    o = w.shape[0]
    sp = len(kernel)
    kt, pt = L.numel(kernel), L.numel(out_sp)
    win = _columns(x, (n, cg) + tuple(kernel) + tuple(out_sp), stride, rd, ld, lo)
    red = cg * kt
    a = Load(w.buf, (1, o, red), (0, red, 1), w.offset)
    found = _stored_columns(lw, win)
    if found is not None:  # the forward's columns (conv_forward's every-image columns) hold them already
        strides = found.strides
        b = Load(found.buf, (1, red, n * pt), (0, strides[1 + sp], strides[-1]), found.offset)
        out = lw.new_buf(dtype, (o, n) + tuple(out_sp))
        lw.emit(Matmul(Load(out, (1, o, n * pt), (0, n * pt, 1), 0), a, b))
        return L.transpose(out.load(), (1, 0) + tuple(range(2, 2 + sp)))
    cols = lw.new_buf(dtype, tuple(out_sp) + (n, cg) + tuple(kernel))
    perm = tuple(range(2 + sp, 2 + 2 * sp)) + (0, 1) + tuple(range(2, 2 + sp))
    lw.emit(Store(cols.load(), L.transpose(win, perm)))
    out = lw.new_buf(dtype, (o,) + tuple(out_sp) + (n,))
    b = Load(cols, (1, red, n * pt), (0, 1, red), 0)
    lw.emit(Matmul(Load(out, (1, o, n * pt), (0, n * pt, 1), 0), a, b))
    return L.transpose(out.load(), (1 + sp, 0) + tuple(range(1, 1 + sp)))


def _stored_columns(lw, win: L.Window) -> Load | None:
    """A view [C, N, K..., P...] of columns an earlier Store (outside any step loop) made from the same
    buffer with the same elements — the forward convolution's every-image columns cols[(c, p), (n, k)]
    (conv_forward.py) are a weight gradient's, the roles of kernel and output positions swapped — laid
    out so that (N, K...) is one unit-stride run and (C, P...) one stride: B of the dot path as it lies.
    Both windows must read inside their source (no padding, no input dilation): then an element is the
    source's at a linear function of the index, and the two functions must be equal up to the order of
    the axes. None when no such Store exists."""
    mine = _linear(win)
    if mine is None:
        return None
    coef, const = mine
    shape = tuple(win.shape)
    written = [k.targets() for k in lw.kernels]
    for at, k in enumerate(lw.kernels):
        if not isinstance(k, Store) or k.more or k.loop is not None or k.when is not None or \
                not isinstance(k.expr, L.Window) or \
                any(t.buf is k.target.buf for later in written[at + 1:] for t in later):
            continue
        if not k.target.contiguous or not isinstance(k.expr.src, Load) or k.expr.src.buf is not win.src.buf:
            continue
        theirs = _linear(k.expr)
        if theirs is None or difference(theirs[1], const) != 0:
            continue
        axis, used = [], set()
        for size, c in zip(shape, coef):  # each axis of mine: the one axis of theirs with its size and step
            match = [j for j, (s2, c2) in enumerate(zip(k.expr.shape, theirs[0]))
                     if j not in used and difference(s2, size) == 0 and difference(c2, c) == 0]
            if len(match) != 1:
                break
            axis.append(match[0])
            used.add(match[0])
        else:
            strides = tuple(k.target.strides[j] for j in axis)
            view = Load(k.target.buf, shape, strides, k.target.offset)
            sp = (len(shape) - 2) // 2   # [C, N, K..., P...]: (N, K...) unit-stride, (C, P...) one stride
            if difference(strides[1 + sp], 1) == 0 and _merges(shape, strides, range(1, 2 + sp)) and \
                    _merges(shape, strides, (0,) + tuple(range(2 + sp, 2 + 2 * sp))):
                return view
    return None


def _linear(win: L.Window):
    """(per output axis the source offset's step, the offset at index 0) of a Window over a Load that
    reads inside its source everywhere (no fill, no input dilation); None otherwise."""
    src = win.src
    if not isinstance(src, Load) or any(d != 1 for d in win.dil):
        return None
    for row, c, n in zip(win.mat, win.const, src.shape):
        lo = c + sum((a * (m - 1) for a, m in zip(row, win.shape) if a < 0), 0)
        hi = c + sum((a * (m - 1) for a, m in zip(row, win.shape) if a > 0), 0)
        low, room = difference(lo, 0), difference(n, hi)
        if low is None or low < 0 or room is None or room <= 0:
            return None
    coef = tuple(sum(st * row[j] for st, row in zip(src.strides, win.mat)) for j in range(len(win.shape)))
    return coef, src.offset + sum(st * c for st, c in zip(src.strides, win.const))


def _merges(shape, strides, axes) -> bool:
    """Whether these axes, in this order, walk one run: each stride the next one's times its size."""
    return all(difference(strides[i], strides[j] * shape[j]) == 0 for i, j in zip(axes, axes[1:]))


def _per_image(lw, elements) -> bool:
    """Whether one image's columns are large enough to make them image by image (and no step loop is
    open already: they do not nest)."""
    return lw.step_loop is None and hint(elements) >= PER_IMAGE


def _col2im(lw, node: Node, x: Expr, w: Expr) -> Expr:
    """Without input dilation `_col2im_all`; with one (the input gradient of a strided convolution), per
    group and image dcols = Wᵀ·x (one GEMM over the input's positions), then per kernel position one add of
    dcols' slice into y (zeroed first) over the input positions that land inside (`_scatter_strided`)."""
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    sp = len(shape) - 2
    n, cin = x.shape[:2]
    in_sp = tuple(x.shape[2:])
    groups = node.attr("groups", 1)
    o, cg = w.shape[:2]                       # w [O, Cg, K...]: O output channels, Cg = Cin / groups
    kernel = tuple(w.shape[2:])
    og, kt = o // groups, L.numel(kernel)
    rd, ld = node.attr("rhs_dilation"), node.attr("lhs_dilation")
    lo = tuple(p[0] for p in node.attr("padding"))
    if all(d == 1 for d in ld):
        return _col2im_all(lw, vid, x, w, kernel, rd, ld, lo)
    x = lw.contiguous(x)
    it = L.numel(in_sp)
    # A [O, K..., Cg] contiguous: each group's rows (o, k) hold the weights of one output channel and
    # kernel position over the group's input channels
    wt = lw.contiguous(L.transpose(w, (0,) + tuple(range(2, 2 + sp)) + (1,)))
    per = _per_image(lw, o * kt * it)  # large columns: one image's at a time (as im2col's)
    nb = 1 if per else n
    dcols = lw.new_buf(dtype, (nb, o) + kernel + in_sp)
    out = lw.new_buf(dtype, shape, vid)
    lw.emit(Store(out.load(), L.broadcast(Const(0.0, dtype, ()), out.shape)))
    per_out = L.numel(out.shape[1:])

    def body(i) -> None:
        for g in range(groups):
            a = Load(wt.buf, (nb, og * kt, cg), (0, cg, 1), wt.offset + g * og * kt * cg)
            b = Load(x.buf, (nb, cg, it), (cin * it, it, 1), x.offset + i * cin * it + g * cg * it)
            lw.emit(Matmul(Load(dcols, (nb, og * kt, it), (o * kt * it, it, 1), g * og * kt * it), a, b))
        target_all = Load(out, (nb,) + tuple(out.shape[1:]), L.contiguous_strides(out.shape), i * per_out)
        _scatter_strided(lw, dtype, target_all, lambda k: L.view(
            dcols.load(), (nb, o) + in_sp, _pick(2, sp, k), (0, 0) + k + (0,) * sp), kernel, rd, ld, lo, in_sp)
    if per:
        with lw.loop(n) as i:
            body(i)
    else:
        body(0)
    return out.load()


def _col2im_all(lw, vid: int, x: Expr, w: Expr, kernel: tuple, rd: tuple, ld: tuple, lo: tuple) -> Expr:
    """col2im by a `Col2Im` kernel (col2im.py; no input dilation, so no widened rows and no zeros
    multiplied): image by image in a run-time step loop where the entry point has none open — per image
    and group one GEMM dcols[(o, k), i] = Σ_c w[o, c, k] · x[n, c, i] read where x lies, its columns still
    in cache for that image's Col2Im (`_per_image`: one image's columns of PER_IMAGE elements or more)
    — else over all images at once: x as xt [Cin, N, I...], one GEMM per
    group over every image's positions, one Col2Im. Measured on lenet5's conv2 (alternating, load 3.5):
    image by image 417-540 µs for the input gradient, all at once 617-840 (its 3.8 MB of columns went
    to memory and back); image by image over rows widened for contiguous adds (the path below) 535-540."""
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    sp = len(shape) - 2
    n, cin = x.shape[:2]
    in_sp = tuple(x.shape[2:])
    it = L.numel(in_sp)
    o, cg = w.shape[:2]
    groups = cin // cg
    og, kt = o // groups, L.numel(kernel)
    wt = lw.contiguous(L.transpose(w, (0,) + tuple(range(2, 2 + sp)) + (1,)))   # [O, K..., Cg]
    out = lw.new_buf(dtype, shape, vid)
    if _per_image(lw, o * kt * it):
        if not (isinstance(x, Load) and _merges(x.shape, x.strides, range(2, 2 + sp)) and
                difference(x.strides[-1], 1) == 0):
            x = lw.contiguous(x)
        dcols = lw.new_buf(dtype, (o,) + kernel + (1,) + in_sp)
        with lw.loop(n) as i:
            for g in range(groups):
                a = Load(wt.buf, (1, og * kt, cg), (0, cg, 1), wt.offset + g * og * kt * cg)
                b = Load(x.buf, (1, cg, it), (0, x.strides[1], 1), x.offset + i * x.strides[0] + g * cg * x.strides[1])
                lw.emit(Matmul(Load(dcols, (1, og * kt, it), (0, it, 1), g * og * kt * it), a, b))
            per_out = o * L.numel(shape[2:])
            image = Load(out, (1,) + tuple(shape[1:]), L.contiguous_strides((1,) + tuple(shape[1:])), i * per_out)
            lw.emit(Col2Im(image, dcols.load(), kernel, tuple(rd), tuple(lo)))
        return out.load()
    xt = _contiguous_once(lw, L.transpose(x, (1, 0) + tuple(range(2, 2 + sp))))
    dcols = lw.new_buf(dtype, (o,) + kernel + (n,) + in_sp)
    cols = n * it
    for g in range(groups):
        a = Load(wt.buf, (1, og * kt, cg), (0, cg, 1), wt.offset + g * og * kt * cg)
        b = Load(xt.buf, (1, cg, cols), (0, cols, 1), xt.offset + g * cg * cols)
        lw.emit(Matmul(Load(dcols, (1, og * kt, cols), (0, cols, 1), g * og * kt * cols), a, b))
    lw.emit(Col2Im(out.load(), dcols.load(), kernel, tuple(rd), tuple(lo)))
    return out.load()


def _scatter_strided(lw, dtype: str, y: Load, pick, kernel: tuple, rd: tuple, ld: tuple, lo: tuple,
                     in_sp: tuple) -> None:
    """y [nb, O, H...] += pick(k) [nb, O, I...] (dcols at kernel position k) at h = i·ld + lo − k·rd, per
    kernel position over the range of i that lands inside y (an input dilation: y's elements every ld
    apart)."""
    nb, o = y.shape[:2]
    sp = len(kernel)
    out_sp = tuple(y.shape[2:])
    for k in itertools.product(*(range(s) for s in kernel)):
        target, src = y, pick(k)
        for d in range(sp):
            first = max(0, -((lo[d] - k[d] * rd[d]) // ld[d]))
            last = min(in_sp[d] - 1, (out_sp[d] - 1 - lo[d] + k[d] * rd[d]) // ld[d])
            if last < first:
                break
            h0 = first * ld[d] + lo[d] - k[d] * rd[d]
            target = L.sub_axis(target, 2 + d, h0, last - first + 1, ld[d])
            src = L.sub_axis(src, 2 + d, first, last - first + 1)
        else:
            lw.emit(Store(target, Map("add", (target, src), dtype, tuple(target.shape))))


def _pick(lead: int, sp: int, k: tuple) -> tuple:
    """The view matrix from [lead axes, I...] into dcols [lead axes, K..., I...] at one kernel position."""
    q = lead + sp
    rows = [[int(j == d) for j in range(q)] for d in range(lead)]
    rows += [[0] * q for _ in range(sp)]
    rows += [[int(j == lead + d) for j in range(q)] for d in range(sp)]
    return rows
