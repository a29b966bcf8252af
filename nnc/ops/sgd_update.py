"""sgd_update(param, grad, velocity, lr): one step of SGD with momentum, as torch.optim.SGD (dampening 0).

This file also holds what every optimiser update op shares: the shape rule
(`update_infer`) and the scalar conventions. Hyperparameter arithmetic on
scalars (1 − β, 1 − β^t, 1 − lr·wd) is done in Python floats (double) and
rounded once to the parameter's dtype; tensor arithmetic stays in that dtype.
"""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op, ShapeError, require_float
from .common import require_same_shape

_NO_SLOT = ("grad", "lr", "step")


def update_infer(op: str, names: tuple[str, ...]):
    """The shape rule of an update op whose inputs are `names`, param first.

    param, grad and every slot share the param's dtype and shape; lr is a 0-d
    float, step a 0-d integer. Outputs: the new param, then each new slot.
    """

    def infer(ins: list[TensorType], a) -> list[TensorType]:
        p = ins[0]
        require_float(p, "param", op)
        outs = [p]
        for t, name in zip(ins[1:], names[1:]):
            if name == "lr":
                if not t.is_float:
                    raise ShapeError(f"{op} expects a float learning rate, found {t}", blame="lr", code="E0202",
                                     label=f"this is {t}")
                if t.rank != 0:
                    raise ShapeError(f"{op} expects the learning rate as a scalar, found {t}", blame="lr",
                                     code="E0203", label=f"this has rank {t.rank}")
            elif name == "step":
                if not t.is_int:
                    raise ShapeError(f"{op} expects an integer step count, found {t}", blame="step",
                                     code="E0202", label=f"this is {t}")
                if t.rank != 0:
                    raise ShapeError(f"{op} expects the step count as a scalar, found {t}", blame="step",
                                     code="E0203", label=f"this has rank {t.rank}")
            else:
                if t.dtype != p.dtype:
                    raise ShapeError(f"{op} expects {name} of the parameter's type {p.dtype}, found {t}",
                                     blame=name, code="E0202", label=f"this is {t}")
                require_same_shape(p, t, name, op, name)
                if name not in _NO_SLOT:
                    outs.append(t)
        return outs

    return infer


def check_beta(a: dict, op: str, *names: str) -> None:
    """β = 1 would divide by a zero bias correction (torch.optim refuses it too)."""
    for name in names:
        if not a[name] < 1.0:
            raise ShapeError(f"{op} needs {name} below 1, found {a[name]:g}", blame=name, code="E0207",
                             hint="the bias correction 1 − β^t is zero when β = 1")


def out(x, dtype):
    """A result as an array of the parameter's dtype (0-d arithmetic yields numpy scalars)."""
    return np.asarray(x, dtype=dtype)


NAMES = ("param", "grad", "velocity", "lr")
_infer = update_infer("sgd_update", NAMES)


def infer(ins, a):
    if a["nesterov"] and not a["momentum"] > 0:
        raise ShapeError("sgd_update with nesterov needs a positive momentum", blame="nesterov", code="E0207",
                         hint="torch.optim.SGD refuses nesterov=True with momentum 0")
    return _infer(ins, a)


def reference(arrays, a, ctx):
    p, g, v, lr = arrays
    dtype = p.dtype
    dt = dtype.type
    lr = dt(lr)
    if a["weight_decay"] > 0:
        g = g + dt(a["weight_decay"]) * p
    if a["momentum"] > 0:
        mu = dt(a["momentum"])
        v = mu * v + g
        g = g + mu * v if a["nesterov"] else v
    p = p - lr * g
    return [out(p, dtype), out(v, dtype)]


def decompose(e, ins, out_types, a):
    """The reference's steps in the parameter's dtype (constants rounded to it once)."""
    from ._prims import const
    p, g, v, lr = ins
    lr = e("cast", lr, dtype=p.type.dtype)
    if a["weight_decay"] > 0:
        g = e("add", g, e("mul", const(e, a["weight_decay"], p), p))
    if a["momentum"] > 0:
        mu = const(e, a["momentum"], p)
        v = e("add", e("mul", mu, v), g)
        g = e("add", g, e("mul", mu, v)) if a["nesterov"] else v
    return [e("sub", p, e("mul", lr, g)), v]


OP = Op(name="sgd_update", doc="one SGD step: the new parameter and momentum velocity", inputs=NAMES,
        attrs=(Attr("momentum", "nonneg_float", 0.0), Attr("nesterov", "bool", False),
               Attr("weight_decay", "nonneg_float", 0.0)),
        infer=infer, reference=reference, category="special", outputs=lambda a: 2, internal=True, decompose=decompose)
