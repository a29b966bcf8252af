"""numpy kernels of softmax and log-softmax and their gradients (ops softmax, log_softmax, cross_entropy,
class_loss_grad; attention uses softmax too). Shared rules: ``_kernel_common``."""
from __future__ import annotations

from ._kernel_common import (
    _check_grad,
    _compute_dtype,
)
from ._numpy import np

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_backward",
    "log_softmax_backward",
]


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax along ``axis``, stabilised by subtracting the maximum first.

    Subtracting the max makes every exponent <= 0, so nothing overflows and at
    least one term is exactly 1. A slice that is all -inf gives NaN, as in
    PyTorch.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True)).astype(dtype, copy=False)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Log-softmax along ``axis``: ``x - max - log(sum(exp(x - max)))``.

    Computed directly rather than as ``log(softmax(x))`` so that very negative
    entries stay finite instead of underflowing to log(0) = -inf.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    with np.errstate(invalid="ignore"):
        shifted = x - x.max(axis=axis, keepdims=True)
        return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(dtype, copy=False)


def softmax_backward(y: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """Gradient of ``softmax(x, axis)`` w.r.t. x, given its output y and the output gradient g.

    The Jacobian is ``diag(y) - y y^T`` along the axis, so the product is
    ``y * (g - sum(g * y))``; expressed through y, the forward input is not
    needed. Computed in y's float dtype.
    """
    dtype = _compute_dtype(y)
    y = np.asarray(y, dtype=dtype)
    g = _check_grad("softmax_backward", g, y.shape, dtype)
    return (y * (g - (g * y).sum(axis=axis, keepdims=True))).astype(dtype, copy=False)


def log_softmax_backward(y: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """Gradient of ``log_softmax(x, axis)`` w.r.t. x, given its output y and the output gradient g.

    ``d/dx (x - logsumexp(x)) = I - softmax(x) 1^T``, so the product is
    ``g - exp(y) * sum(g)``; ``exp(y)`` is the softmax, recovered from y
    without the forward input.
    """
    dtype = _compute_dtype(y)
    y = np.asarray(y, dtype=dtype)
    g = _check_grad("log_softmax_backward", g, y.shape, dtype)
    return (g - np.exp(y) * g.sum(axis=axis, keepdims=True)).astype(dtype, copy=False)
