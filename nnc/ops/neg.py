"""Unary minus on a tensor: `-x`."""
from ._numpy import np

from dataclasses import replace

from .base import ShapeError
from .common import unary


def infer(ins, a):
    if ins[0].dtype == "bool":
        raise ShapeError(f"unary minus needs numbers, found {ins[0]}", blame="x", code="E0202",
                         label=f"this is {ins[0]}", hint="turn a condition into numbers first, e.g. "
                                                           "`where(c, 1.0, 0.0)`")
    return [ins[0]]


OP = replace(unary("neg", lambda x, a: np.negative(x), "-x", category="math", float_only=False, internal=True,
                   vjp=lambda e, ins, outs, gs, a: [e("neg", gs[0])]), infer=infer)
