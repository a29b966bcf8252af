"""The sliding-window arithmetic shared by convolution and pooling.

out = floor((N + lo + hi - D·(F - 1) - 1) / S) + 1 along each spatial axis.
Rounding down is normal; it is an error exactly when it leaves real input
elements unread that the next window would have read (language.md).
"""
from __future__ import annotations

from ..ir.types import Dim, dim_add, dim_str, window_count
from .base import ShapeError

AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def per_axis(value, n: int, what: str) -> tuple:
    """An int applies to every spatial axis; a list must name each one."""
    if isinstance(value, tuple):
        if len(value) != n:
            raise ShapeError(f"`{what}` lists {len(value)} values for {n} spatial axes", blame=what,
                             code="E0203", label=f"expected {n} value{'s' if n != 1 else ''}")
        return value
    return (value,) * n


def same_padding(n: Dim, k: int, s: int, d: int) -> tuple[int, int] | None:
    """SAME_UPPER padding so that out = ceil(n / s); None when n is symbolic and s > 1."""
    extent = d * (k - 1) + 1
    if isinstance(n, int):
        out = -(-n // s)
        total = max((out - 1) * s + extent - n, 0)
    elif s == 1:
        total = extent - 1
    else:
        return None
    return total // 2, total - total // 2


def _reads(e: int, k: int, s: int, d: int, lo: int, out: int) -> bool:
    for j in range(k):
        t = e + lo - j * d
        if t >= 0 and t % s == 0 and t // s < out:
            return True
    return False


def leaves_unread(n: int, k: int, s: int, d: int, lo: int, hi: int) -> int | None:
    """The first real element the next window would read that no window reads, or None."""
    out = (n + lo + hi - d * (k - 1) - 1) // s + 1
    start = out * s - lo
    for j in range(k):
        e = start + j * d
        if 0 <= e < n and not _reads(e, k, s, d, lo, out):
            return e
    return None


def _fits(n, k, s, d, lo, hi) -> bool:
    return n + lo + hi - d * (k - 1) - 1 >= 0 and leaves_unread(n, k, s, d, lo, hi) is None


def _formula(n: int, k: int, s: int, d: int, pad: str) -> str:
    if d == 1:
        return f"({n} - {k} + {pad})/{s} + 1"
    return f"({n} + {pad} - {d}·({k} - 1) - 1)/{s} + 1"


def ceil_extra(n: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    """Padding added after the input so that the count rounds up (pooling's ceil_mode, PyTorch's rule).

    out = ceil((n + lo + hi − extent)/s) + 1, less one when that last window would start in the padding
    after the input; the extra padding is what the last window reads past n + lo + hi.
    """
    extent = d * (k - 1) + 1
    span = n + lo + hi - extent
    if span < 0:
        return 0
    out = -(-span // s) + 1
    if (out - 1) * s >= n + lo:
        out -= 1
    return max((out - 1) * s + extent - (n + lo + hi), 0)


def window_size(n: Dim, k: int, s: int, d: int, lo: int, hi: int, axis: str, op: str,
                symmetric_pad: bool = True, remainder: str = "error", pool: bool = False) -> Dim:
    """The output size along one axis, or a ShapeError naming the axis and a fix.

    remainder="drop" accepts a window count that leaves real elements unread (PyTorch's and ONNX's
    silent floor); pool=True also offers ceil_mode=true in the hint.
    """
    extent = d * (k - 1) + 1
    if not isinstance(n, int):
        if s == 1:
            return dim_add(n, lo + hi - extent + 1)
        return window_count(n, lo + hi - extent, s)
    if n + lo + hi < extent:
        what = f"kernel {k}" + (f" dilated by {d} spans {extent}" if d > 1 else "")
        raise ShapeError(f"{op}'s {what} is larger than its input", code="E0302",
                         label=f"{axis} {n}" + (f" padded to {n + lo + hi}" if lo + hi else "") + f" < {extent}",
                         hint=f"padding={-(-(extent - n) // 2)} would make the {axis} fit, or use a smaller kernel")
    out = (n + lo + hi - extent) // s + 1
    e = None if remainder == "drop" else leaves_unread(n, k, s, d, lo, hi)
    if e is None:
        return out
    pad_text = f"{lo}+{hi}" if lo != hi else f"2·{lo}"
    exact = (n + lo + hi - extent) / s + 1
    label = f"{axis} {n}: {_formula(n, k, s, d, pad_text)} = {exact:.2f} is not a whole number"
    fixes = []
    for p in range(lo + 1, lo + extent + 1):
        if symmetric_pad and _fits(n, k, s, d, p, p):
            fixes.append(f"padding={p} gives {_formula(n, k, s, d, str(2 * p))} = {(n + 2 * p - extent) // s + 1}")
            break
    for s2 in range(s - 1, 0, -1):
        if _fits(n, k, s2, d, lo, hi):
            fixes.append(f"stride={s2} gives {(n + lo + hi - extent) // s2 + 1}")
            break
    if pool:
        extra = ceil_extra(n, k, s, d, lo, hi)
        fixes.append(f"ceil_mode=true gives {(n + lo + hi + extra - extent) // s + 1} (a last, partial window)")
    fixes.append(f'remainder="drop" gives {out} and never reads element {e}, as PyTorch and ONNX do')
    return _raise_unfit(op, label, fixes, e, axis)


def _raise_unfit(op, label, fixes, e, axis):
    raise ShapeError(f"{op} does not fit its input", code="E0301", label=label,
                     hint="; ".join(fixes) if fixes else None,
                     notes=(f"element {e} along the {axis} is never read, yet the next window would read it",))


def spatial_output(shape_spatial, kernel, stride, dilation, padding, op: str, symmetric_pad=True,
                   remainder: str = "error", pool: bool = False):
    """Apply window_size to every spatial axis; padding is a tuple of (lo, hi) pairs.

    When several axes fail the same way (a square input), one error names them all: "height and width 7".
    """
    names = AXIS_NAMES.get(len(shape_spatial), tuple(f"axis {i + 2}" for i in range(len(shape_spatial))))
    out, failures = [], []
    for i, (n, k, s, d, (lo, hi)) in enumerate(zip(shape_spatial, kernel, stride, dilation, padding)):
        try:
            out.append(window_size(n, k, s, d, lo, hi, names[i], op, symmetric_pad, remainder, pool))
        except ShapeError as err:
            failures.append((i, (n, k, s, d, lo, hi), err))
    if failures:
        first_axis, first_args, err = failures[0]
        same = [names[i] for i, args, _ in failures if args == first_args]
        if len(same) > 1:
            joined = ", ".join(same[:-1]) + " and " + same[-1]
            err.label = err.label.replace(names[first_axis], joined, 1)
            err.notes = tuple(n.replace(names[first_axis], joined, 1) for n in err.notes)
        raise err
    return tuple(out)


def resolve_padding(padding, spatial, kernel, stride, dilation, op: str) -> tuple[tuple[int, int], ...]:
    """int / list / [[lo, hi], ...] / "same" / "same_lower" / "valid" to one (lo, hi) pair per spatial axis.

    "same" puts the odd extra element after the input (ONNX's SAME_UPPER), "same_lower" before it.
    """
    n = len(spatial)
    if padding == "valid":
        return ((0, 0),) * n
    if padding in ("same", "same_lower"):
        out = []
        for size, k, s, d in zip(spatial, kernel, stride, dilation):
            pair = same_padding(size, k, s, d)
            if pair is None:
                raise ShapeError(f'{op}: padding="{padding}" with stride {s} needs a known size, found '
                                 f'{dim_str(size)}', blame="padding", code="E0208",
                                 hint="give the axis a fixed size or use stride 1")
            out.append(pair if padding == "same" else pair[::-1])
        return tuple(out)
    if isinstance(padding, tuple) and any(isinstance(p, tuple) for p in padding):  # [[top, bottom], [left, right]]
        return tuple(p if isinstance(p, tuple) else (p, p) for p in per_axis(padding, n, "padding"))
    return tuple((p, p) for p in per_axis(padding, n, "padding"))
