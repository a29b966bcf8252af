"""compare(a, b, kind): a < b (lt), ≤ (le), > (gt), ≥ (ge), = (eq) or ≠ (ne) as bool, broadcast (a primitive)."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op
from .common import broadcast_shapes, no_gradient

FUNCTIONS = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
             "ne": "not_equal"}


def infer(ins, a):
    return [TensorType("bool", broadcast_shapes(ins[0], ins[1]))]


def reference(arrays, a, ctx):
    return [np.asarray(getattr(np, FUNCTIONS[a["kind"]])(arrays[0], arrays[1]))]


OP = Op(name="compare", doc="an elementwise comparison giving bool", inputs=("a", "b"),
        attrs=(Attr("kind", "choice:" + "|".join(FUNCTIONS)),), infer=infer, reference=reference, category="math",
        internal=True, vjp=no_gradient)
