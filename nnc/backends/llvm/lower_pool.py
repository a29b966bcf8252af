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
from .window import MAX_TAPS, AvgPoolGrad, PoolReduce


def _out(lw, node):
    vid = node.outputs[0]
    return lw.dtype(vid), lw.shape(vid)


def _window_geometry(node):
    return tuple(node.attr("kernel")), tuple(node.attr("stride")), tuple(p[0] for p in node.attr("padding"))


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
    select_and_scatter_add, avgpool's g / size spread over each window without a convolution."""
    if node.attr("kind") == "maxpool":
        return window_pick("scatter")(lw, node, xs)
    g = lw.materialize(xs[0])
    dtype, shape = _out(lw, node)
    kernel, stride, lo = _window_geometry(node)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    lw.emit(AvgPoolGrad(buf.load(), g, g, kernel, stride, lo, "avg", size=L.numel(kernel)))
    return buf.load()
