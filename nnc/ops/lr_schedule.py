"""lr_schedule(step): the learning rate for update number t = step, as a 0-d f32.

The one attribute `schedule` is plain data:
  a number                                 a constant rate
  ("cosine", lr, steps, min_lr)            min_lr + (lr − min_lr)·(1 + cos(π·min(t, steps)/steps))/2
  ("step_decay", lr, every, factor)        lr·factor^⌊t/every⌋
  ("inverse_time", lr, decay)              lr/(1 + decay·t)
  ("warmup", steps, inner)                 inner(t)·min(1, (t + 1)/steps), inner being a schedule
The fields follow the order of nnc/optimizers.py SCHEDULES. Values are
computed in double precision and rounded once to f32.
"""
from __future__ import annotations

import math

from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op, ShapeError

# field name -> "float" | "int" | "schedule", in the order of nnc/optimizers.py SCHEDULES
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "cosine": (("lr", "float"), ("steps", "int"), ("min_lr", "float")),
    "step_decay": (("lr", "float"), ("every", "int"), ("factor", "float")),
    "inverse_time": (("lr", "float"), ("decay", "float")),
    "warmup": (("steps", "int"), ("schedule", "schedule")),
}
_POSITIVE = {"steps", "every", "factor"}  # lr, min_lr and decay may be 0 (lr 0: a frozen group)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def normalize_schedule(schedule):
    """The canonical tuple encoding (ints for counts, floats for rates), or ValueError saying what is wrong."""
    if _is_number(schedule):
        if not schedule >= 0 or not math.isfinite(schedule):
            raise ValueError(f"a constant learning rate must be finite and not negative, found {schedule!r}")
        return float(schedule)
    if isinstance(schedule, list):
        schedule = tuple(schedule)
    if not (isinstance(schedule, tuple) and schedule and isinstance(schedule[0], str)):
        raise ValueError(f"a schedule is a number or a tuple (name, ...), found {schedule!r}")
    name, values = schedule[0], schedule[1:]
    if name not in FIELDS:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(FIELDS)}")
    fields = FIELDS[name]
    if len(values) != len(fields):
        raise ValueError(f"the schedule {name} takes {len(fields)} values "
                         f"({', '.join(f for f, _ in fields)}), found {len(values)}")
    out: list = [name]
    for (field, kind), v in zip(fields, values):
        if kind == "schedule":
            out.append(normalize_schedule(v))
            continue
        if not _is_number(v) or not math.isfinite(v):
            raise ValueError(f"{name}: {field} must be a finite number, found {v!r}")
        if kind == "int":
            if isinstance(v, float):
                if not v.is_integer():
                    raise ValueError(f"{name}: {field} must be an int, found {v!r}")
                v = int(v)
        else:
            v = float(v)
        if v < 0 or (field in _POSITIVE and v == 0):
            raise ValueError(f"{name}: {field} must be {'positive' if field in _POSITIVE else 'non-negative'}, "
                             f"found {v!r}")
        out.append(v)
    return tuple(out)


def schedule_value(schedule, t: int) -> float:
    """The learning rate of update number t (0 for the first update), in double precision."""
    if isinstance(t, bool) or int(t) != t or t < 0:
        raise ValueError(f"the step count must be a non-negative int, found {t!r}")
    t = int(t)
    if _is_number(schedule):
        return float(schedule)
    name = schedule[0]
    if name == "cosine":
        _, lr, steps, min_lr = schedule
        return min_lr + (lr - min_lr) * (1.0 + math.cos(math.pi * min(t, steps) / steps)) / 2.0
    if name == "step_decay":
        _, lr, every, factor = schedule
        return lr * factor ** (t // every)
    if name == "inverse_time":
        _, lr, decay = schedule
        return lr / (1.0 + decay * t)
    if name == "warmup":
        _, steps, inner = schedule
        return schedule_value(inner, t) * min(1.0, (t + 1) / steps)
    raise ValueError(f"unknown schedule {name!r}")


class NeedsEpochLength(ValueError):
    """A schedule counted in epochs (per="epoch") where the number of steps in an epoch is not known."""


# the fields a schedule counted in epochs multiplies by the steps of an epoch (and divides, for a rate)
_EPOCH_COUNTS = {"cosine": ("steps",), "step_decay": ("every",), "warmup": ("steps",)}
_EPOCH_RATES = {"inverse_time": ("decay",)}


def schedule_from_spec(spec, steps_per_epoch: int | None = None):
    """The tuple encoding of the elaborator's ScheduleSpec(name, args), or of a plain number.

    args are (name, value) pairs (nnc/optimizers.py SCHEDULES); a value may
    itself be a ScheduleSpec (warmup's inner schedule). Missing arguments take
    SCHEDULES' defaults. An already encoded tuple is checked and returned.
    A schedule with per="epoch" counts in epochs: its steps, every (and, for
    inverse_time, decay per epoch) are converted to steps with `steps_per_epoch`,
    which nnc train knows from the data and the batch size.
    """
    if _is_number(spec) or isinstance(spec, (tuple, list)):
        return normalize_schedule(spec)
    name, args = getattr(spec, "name", None), getattr(spec, "args", None)
    if name not in FIELDS or not isinstance(args, tuple):
        raise ValueError(f"not a learning-rate schedule: {spec!r}")
    from ..optimizers import SCHEDULES  # the language's signatures: only for defaults

    given = dict(args)
    if given.pop("per", "step") == "epoch":
        if not steps_per_epoch:
            raise NeedsEpochLength(f"the schedule {name}(..., per=\"epoch\") counts epochs, and the number of steps "
                                   "in an epoch is not known here (nnc train knows it; in Python pass "
                                   "steps_per_epoch= to the trainer)")
        for field in _EPOCH_COUNTS.get(name, ()):
            if field in given:
                given[field] = int(given[field]) * int(steps_per_epoch)
        for field in _EPOCH_RATES.get(name, ()):
            if field in given:
                given[field] = float(given[field]) / int(steps_per_epoch)
    defaults = {a.name: a.default for a in SCHEDULES.get(name, ()) if not a.required and a.name != "per"}
    values = []
    for field, kind in FIELDS[name]:
        if field in given:
            v = given[field]
        elif field in defaults:
            v = defaults[field]
        else:
            raise ValueError(f"the schedule {name} is missing {field}")
        values.append(schedule_from_spec(v, steps_per_epoch) if kind == "schedule" else v)
    unknown = set(given) - {f for f, _ in FIELDS[name]}
    if unknown:
        raise ValueError(f"the schedule {name} has no argument {sorted(unknown)[0]}")
    return normalize_schedule((name, *values))


def resolve(ins, a):
    try:
        return {**a, "schedule": normalize_schedule(a["schedule"])}
    except ValueError as err:
        raise ShapeError(f"lr_schedule: {err}", blame="schedule", code="E0207") from None


def infer(ins, a):
    step = ins[0]
    if not step.is_int:
        raise ShapeError(f"lr_schedule expects an integer step count, found {step}", blame="step", code="E0202",
                         label=f"this is {step}")
    if step.rank != 0:
        raise ShapeError(f"lr_schedule expects the step count as a scalar, found {step}", blame="step",
                         code="E0203", label=f"this has rank {step.rank}")
    resolve(ins, a)
    return [TensorType("f32", ())]


def reference(arrays, a, ctx):
    return [np.asarray(schedule_value(a["schedule"], int(arrays[0])), dtype=np.float32)]


def decompose(e, ins, out_types, a):
    """The schedule's formula on t = step in f64 (as the reference computes it), rounded once to f32."""
    t = e("cast", ins[0], dtype="f64")
    return [e("cast", _schedule(e, a["schedule"], t), dtype=out_types[0].dtype)]


def _schedule(e, schedule, t):
    c = lambda v: e.const(v, "f64")  # noqa: E731
    if _is_number(schedule):
        return e("broadcast_to", c(schedule), t)
    name = schedule[0]
    if name == "cosine":
        _, lr, steps, min_lr = schedule
        angle = e("div", e("mul", c(math.pi), e("minimum", t, c(steps))), c(steps))
        return e("add", c(min_lr), e("div", e("mul", c(lr - min_lr), e("add", c(1.0), e("cos", angle))), c(2.0)))
    if name == "step_decay":
        _, lr, every, factor = schedule
        times = e("cast", e("cast", e("div", t, c(every)), dtype="i64"), dtype="f64")  # ⌊t/every⌋, t ≥ 0
        return e("mul", c(lr), e("pow", c(factor), times))
    if name == "inverse_time":
        _, lr, decay = schedule
        return e("div", c(lr), e("add", c(1.0), e("mul", c(decay), t)))
    _, steps, inner = schedule  # warmup
    ramp = e("minimum", c(1.0), e("div", e("add", t, c(1.0)), c(steps)))
    return e("mul", _schedule(e, inner, t), ramp)


OP = Op(name="lr_schedule", doc="the learning rate of an update step", inputs=("step",),
        attrs=(Attr("schedule", "any", doc="a number, or a tuple (name, ...) as in nnc/ops/lr_schedule.py"),),
        infer=infer, resolve=resolve, reference=reference, category="special", internal=True, decompose=decompose)
