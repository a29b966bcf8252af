"""Pooling lowerings: reduce_window (max/avg pooling), select_and_scatter_add and pool_select (max
pooling's gradient and its second derivative's select), kept out of lower.py so it stays small.

reduce_window becomes a `PoolReduce` (window.py: taps unrolled, the last spatial axis vectorised, no
bounds tests inside) unless its kernel has more than MAX_TAPS taps (then a plain Reduce over the
Window); the winners' kernels are `WindowPick`s, which window.py emits in the fastest form that
applies. The source of a reduce_window stays lazy: relu(conv + bias) → max pool is one pass."""
from __future__ import annotations

from typing import Callable

from . import loops as L
from .loops import Reduce
from .window import MAX_TAPS, AvgPoolGrad, PoolReduce, ReluPoolGrad


def _out(lw, node):
    vid = node.outputs[0]
    return lw.dtype(vid), lw.shape(vid)


def _window_geometry(node):
    return tuple(node.attr("kernel")), tuple(node.attr("stride")), tuple(p[0] for p in node.attr("padding"))


def _relu_after(lw, node):
    """The node `mul(node, sign(maximum(a, 0)))` (either order) when it is the only use of max pooling's
    gradient `node`, whose pooled x is `maximum(a, 0)` of the same a, and the windows do not overlap (the
    kernel that writes every element once, window.py's _scatter_blocks): relu's gradient after pooling's.
    Then out = pool_grad · sign(x), which is the mul's value bit for bit (sign(maximum(a, 0)) is sign(x))."""
    kernel, stride, _ = _window_geometry(node)
    cells = 1
    for s in stride:
        cells *= s
    if not all(s >= k for s, k in zip(stride, kernel)) or cells > MAX_TAPS or not hasattr(lw, "ahead"):
        return None
    vid = node.outputs[0]
    if lw.uses[vid] != 1 or vid in lw.outputs or lw.dtype(vid) not in ("f32", "f64"):
        return None
    made = {o: n for n in lw.graph.nodes for o in n.outputs}
    users = [n for n in lw.graph.nodes if vid in n.inputs]
    if len(users) != 1 or users[0].op != "mul" or len(users[0].outputs) != 1:
        return None
    mul = users[0]
    other = [i for i in mul.inputs if i != vid]
    if len(other) != 1 or made.get(other[0]) is None or made[other[0]].op != "sign":
        return None
    relu_again, relu = made.get(made[other[0]].inputs[0]), made.get(node.inputs[1])
    if not (_is_relu(relu, made) and _is_relu(relu_again, made) and relu.inputs[0] == relu_again.inputs[0]):
        return None
    if tuple(lw.shape(mul.outputs[0])) != tuple(lw.shape(vid)) or lw.dtype(mul.outputs[0]) != lw.dtype(vid):
        return None
    return mul


def _is_relu(n, made) -> bool:
    """n is maximum(a, broadcast_to(0)) (relu as the graph writes it)."""
    if n is None or n.op != "maximum" or len(n.inputs) != 2:
        return False
    zero = made.get(n.inputs[1])
    if zero is not None and zero.op == "broadcast_to":
        zero = made.get(zero.inputs[0])
    return zero is not None and zero.op == "constant" and zero.attr("value") == 0


def lower_reduce_window(lw, node, xs):
    x = xs[0]
    if not isinstance(x, L.Load) and L.numel(tuple(node.attr("kernel"))) <= MAX_TAPS:
        x = lw.materialize(x)  # one pass storing it, then whole rows per vector load (window.py)
    dtype, shape = _out(lw, node)
    kernel, stride, lo = _window_geometry(node)
    sp = len(kernel)
    full = shape + kernel
    q = len(full)
    mat = [[int(j == 0) for j in range(q)], [int(j == 1) for j in range(q)]]
    for d in range(sp):
        row = [0] * q
        row[2 + d], row[2 + sp + d] = stride[d], 1
        mat.append(row)
    kind = node.attr("kind")
    win = L.Window(x, full, tuple(map(tuple, mat)), (0, 0) + tuple(-v for v in lo), (1,) * (2 + sp),
                   float("-inf") if kind == "max" else 0.0)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    axes = tuple(range(2 + sp, q))
    if L.numel(kernel) <= MAX_TAPS:  # taps unrolled, the last axis vectorised (window.py)
        lw.emit(PoolReduce(buf.load(), win, axes, kind, x=x, kernel=kernel, stride=stride, lo=lo))
    else:
        lw.emit(Reduce(buf.load(), win, axes, kind))
    return buf.load()


def window_pick(mode: str) -> Callable:
    def lower(lw, node, xs):
        other, x = lw.materialize(xs[0]), lw.contiguous(xs[1])
        if mode == "select":
            other = lw.contiguous(other)
        dtype, shape = _out(lw, node)
        kernel, stride, lo = _window_geometry(node)
        buf = lw.new_buf(dtype, shape, node.outputs[0])
        target = buf.load()
        lw.emit(L.WindowPick(target, x, other, kernel, stride, lo, mode))
        return buf.load()
    return lower


def lower_pool_backward(lw, node, xs):
    """pool_backward kept whole (lower.py's table lists it, so it is not decomposed): maxpool's as
    select_and_scatter_add, avgpool's g / size spread over each window without a convolution. Where the
    pooled x is relu's output and the only use of the gradient is relu's gradient (`_relu_after`), the
    kernel applies that too: one pass, and the mul's kernel is gone."""
    if node.attr("kind") == "maxpool":
        mul = _relu_after(lw, node)
        if mul is None:
            return window_pick("scatter")(lw, node, xs)
        g, x = lw.materialize(xs[0]), lw.contiguous(xs[1])
        dtype, shape = _out(lw, node)
        kernel, stride, lo = _window_geometry(node)
        lw.pending.append((set(), (mul,)))  # --explain: the mul's nodes are this kernel's too
        if mul.outputs[0] in lw.outputs:
            target = lw.new_buf(dtype, shape, mul.outputs[0]).load()
        else:  # stored [C, N, H...]: the layout both convolution gradients read (lower_conv's transposes)
            perm = (1, 0) + tuple(range(2, len(shape)))
            target = L.transpose(lw.new_buf(dtype, tuple(shape[p] for p in perm)).load(), perm)
        lw.emit(ReluPoolGrad(target, x, g, kernel, stride, lo, "scatter"))
        lw.ahead[mul.outputs[0]] = target
        return target  # its only use is the mul, which takes this value as its own
    g = lw.materialize(xs[0])
    dtype, shape = _out(lw, node)
    kernel, stride, lo = _window_geometry(node)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    lw.emit(AvgPoolGrad(buf.load(), g, g, kernel, stride, lo, "avg", size=L.numel(kernel)))
    return buf.load()
