"""The signatures of optimisers and learning-rate schedules (their update rules live in nnc/train/).

Kind "lr" accepts a number that is not negative (0 freezes a group, as in PyTorch and Keras) or a schedule.
"""
from __future__ import annotations

from .ops.base import Attr

_BETAS = (Attr("beta1", "prob", 0.9), Attr("beta2", "prob", 0.999))  # 1.0 would divide by zero in the bias correction
# Every optimiser's last argument: the global gradient norm of one minimize line is clipped to it (0: off).
_CLIP = (Attr("clip_norm", "nonneg_float", 0.0),)

OPTIMIZERS: dict[str, tuple[Attr, ...]] = {
    "sgd": (Attr("lr", "lr"), Attr("momentum", "nonneg_float", 0.0), Attr("nesterov", "bool", False),
            Attr("weight_decay", "nonneg_float", 0.0)) + _CLIP,
    "adagrad": (Attr("lr", "lr"), Attr("eps", "pos_float", 1e-10), Attr("weight_decay", "nonneg_float", 0.0)) + _CLIP,
    "rmsprop": (Attr("lr", "lr"), Attr("alpha", "unit_float", 0.99), Attr("eps", "pos_float", 1e-8),
                Attr("momentum", "nonneg_float", 0.0), Attr("weight_decay", "nonneg_float", 0.0)) + _CLIP,
    "adam": (Attr("lr", "lr", 1e-3),) + _BETAS + (Attr("eps", "pos_float", 1e-8),
                                                  Attr("weight_decay", "nonneg_float", 0.0)) + _CLIP,
    "adamw": (Attr("lr", "lr", 1e-3),) + _BETAS + (Attr("eps", "pos_float", 1e-8),
                                                   Attr("weight_decay", "nonneg_float", 0.01)) + _CLIP,
    "lamb": (Attr("lr", "lr", 1e-3),) + _BETAS + (Attr("eps", "pos_float", 1e-6),
                                                  Attr("weight_decay", "nonneg_float", 0.0)) + _CLIP,
}

# Every schedule's last argument: per="epoch" counts its steps, every and decay in epochs of the run.
_PER = (Attr("per", "choice:step|epoch", "step"),)

SCHEDULES: dict[str, tuple[Attr, ...]] = {
    "cosine": (Attr("lr", "nonneg_float"), Attr("steps", "pos_int"), Attr("min_lr", "nonneg_float", 0.0)) + _PER,
    "step_decay": (Attr("lr", "nonneg_float"), Attr("every", "pos_int"), Attr("factor", "pos_float")) + _PER,
    "inverse_time": (Attr("lr", "nonneg_float"), Attr("decay", "nonneg_float")) + _PER,
    "warmup": (Attr("steps", "pos_int"), Attr("schedule", "lr")) + _PER,
}
