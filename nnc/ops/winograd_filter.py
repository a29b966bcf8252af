"""winograd_filter(w): 3×3 filters transformed for Winograd F(2×2, 3×3), U = G·w·Gᵀ (internal).

The llvm backend's pass `winograd_filters` (nnc/backends/llvm/conv_forward.py) writes a 3×3 stride-1
`conv(x, w)` as `conv_winograd(x, winograd_filter(w))`, so that in an inference graph the transform of
the parameters is hoisted to load time (nnc/passes/hoist.py) instead of being recomputed on every call.
w [O, C, 3, 3] → U [16, O, C] with U[4ξ + ν, o, c] = Σ_ab G[ξ, a]·w[o, c, a, b]·G[ν, b] (Lavin & Gray 2016).
"""
from __future__ import annotations

from ._numpy import np

from ..ir.types import TensorType
from .base import Op, ShapeError, require_float

G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))   # the filter transform (4×3)


def infer(ins: list[TensorType], a: dict) -> list[TensorType]:
    (w,) = ins
    require_float(w, "w", "winograd_filter")
    if w.rank != 4 or tuple(w.shape[2:]) != (3, 3) or not all(isinstance(d, int) for d in w.shape):
        raise ShapeError(f"winograd_filter expects known 3×3 filters [O, C, 3, 3], found {w}", blame="w",
                         code="E0203")
    return [TensorType(w.dtype, (16, w.shape[0], w.shape[1]))]


def reference(arrays, a, ctx):
    (w,) = arrays
    g = np.asarray(G, dtype=w.dtype)
    u = np.einsum("xa,ocab,yb->xyoc", g, w, g)
    return [np.ascontiguousarray(u.reshape((16,) + w.shape[:2]), dtype=w.dtype)]


OP = Op(name="winograd_filter", doc="3×3 filters as Winograd F(2×2, 3×3) reads them: U = G·w·Gᵀ, [16, O, C]",
        inputs=("w",), infer=infer, reference=reference, category="layer", internal=True)
