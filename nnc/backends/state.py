"""The one check every executable applies to `load_state`: known names, exact shapes, convertible dtypes."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..interp import NP_DTYPES
from ..ir.types import eval_dim
from .base import Port


def checked_state(stateful: Mapping[str, Port], values: Mapping[str, object]) -> dict[str, np.ndarray]:
    """`values` as arrays of each port's dtype, or KeyError / ValueError naming the first bad one.

    Every stateful port has a fixed shape (parameters, slots, counters). A float or integer array is
    converted to the declared dtype (an f64 array assigned to an f32 parameter), anything else refused;
    nothing is loaded unless every value passes, so a bad assignment changes nothing.
    """
    out = {}
    for name, value in values.items():
        port = stateful.get(name)
        if port is None:
            raise KeyError(f"no parameter, state, slot or counter {name!r}")
        a = np.asarray(value)
        want = NP_DTYPES[port.type.dtype]
        shape = tuple(eval_dim(d) for d in port.type.shape)
        if a.shape != shape:
            raise ValueError(f"{name} must have shape {list(shape)}, found {list(a.shape)}")
        if a.dtype != want:
            numeric = (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)) and (
                np.issubdtype(want, np.floating) or np.issubdtype(want, np.integer))
            if not numeric:
                raise ValueError(f"{name} must be {port.type.dtype}, found an array of {a.dtype}")
            a = a.astype(want)
        out[name] = a
    return out
