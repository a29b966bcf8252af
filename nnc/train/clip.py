"""Gradient clipping by global norm (`adam(..., clip_norm=1.0)`), as torch.nn.utils.clip_grad_norm_ does it.

The norm is taken over every gradient of one `minimize` line together; when it exceeds clip_norm, every
gradient is scaled by clip_norm / (norm + 1e-6), so the direction of the step is kept. It is written in
graph ops, so every backend computes it; under data-parallel training it runs on the reduced gradients.
"""
from __future__ import annotations

CLIP_ATTR = "clip_norm"


def pop_clip(args: dict) -> float:
    """The optimiser's clip_norm (0: no clipping), removed from the update op's arguments."""
    return float(args.pop(CLIP_ATTR, 0.0) or 0.0)


def clip_by_global_norm(emit, grads: list, max_norm: float) -> list:
    """`grads` scaled by min(1, max_norm / (‖grads‖ + 1e-6)); None entries stay None."""
    present = [g for g in grads if g is not None]
    if not max_norm or not present:
        return grads
    dtype = "f64" if any(g.type.dtype == "f64" for g in present) else "f32"
    total = None
    for g in present:
        g = g if g.type.dtype == dtype else emit("cast", g, dtype=dtype)
        term = emit("sum", emit("mul", g, g), axis=tuple(range(g.type.rank)))
        total = term if total is None else emit("add", total, term)
    norm = emit("sqrt", total)
    coef = emit("minimum", emit("div", emit.const(max_norm, dtype), emit("add", norm, emit.const(1e-6, dtype))),
                emit.const(1.0, dtype))
    out = []
    for g in grads:
        if g is None:
            out.append(None)
            continue
        c = coef if g.type.dtype == dtype else emit("cast", coef, dtype=g.type.dtype)
        out.append(emit("mul", g, c))
    return out
