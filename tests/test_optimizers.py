"""The optimiser update ops and the learning-rate schedule op.

Each update op runs three steps on a small random parameter with three fixed
gradients and is checked against its formula written out here in float64
numpy, and (when torch is importable) against torch.optim for the same steps.
"""
import math

import numpy as np
import pytest

from nnc.ir.types import TensorType
from nnc.ops import registry
from nnc.ops.base import ShapeError
from nnc.ops.lr_schedule import schedule_from_spec, schedule_value

NEW_OPS = ("sgd_update", "adagrad_update", "rmsprop_update", "adam_update", "lamb_update", "lr_schedule")
SHAPE = (3, 4)
RTOL, ATOL = 1e-6, 1e-7
LR = 0.05

rng = np.random.default_rng(7)
P0 = rng.standard_normal(SHAPE).astype(np.float32)
GRADS = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(3)]


def op(name):
    return registry()[name]


def attrs_of(name, **over):
    full = {a.name: a.default for a in op(name).attrs}
    full.update(over)
    return full


def f32(x):
    return np.asarray(x, dtype=np.float32)


def run_op(name, param, slots, grad, attrs, step=None, lr=LR):
    """One call of the op's reference with inputs in the op's order; returns (param, slots)."""
    o = op(name)
    arrays = [param, grad, *slots]
    if step is not None:
        arrays.append(np.asarray(step, dtype=np.int64))
    arrays.append(f32(lr))
    before = [a.copy() for a in arrays]
    outs = o.reference(arrays, attrs, None)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)  # inputs are never updated in place
    types = o.infer([TensorType(str(_dt(a)), a.shape) for a in arrays], attrs)
    assert len(outs) == len(types) == o.outputs(attrs)
    for arr, t in zip(outs, types):
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32 and arr.shape == t.shape
    return outs[0], outs[1:]


def _dt(a):
    return {np.dtype("float32"): "f32", np.dtype("float64"): "f64", np.dtype("int64"): "i64"}[a.dtype]


def three_steps(name, attrs, n_slots, with_step):
    p, slots = P0.copy(), [np.zeros(SHAPE, np.float32) for _ in range(n_slots)]
    history = []
    for t, g in enumerate(GRADS):
        p, slots = run_op(name, p, slots, g, attrs, step=t if with_step else None)
        history.append((p, slots))
    return history


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# ---- the formulas, by hand, in float64 --------------------------------------------------------------------------

def hand_sgd(momentum=0.0, nesterov=False, weight_decay=0.0):
    p, v = P0.astype(np.float64), np.zeros(SHAPE)
    out = []
    for g in GRADS:
        g = g.astype(np.float64) + weight_decay * p
        if momentum:
            v = momentum * v + g
            d = g + momentum * v if nesterov else v
        else:
            d = g
        p = p - LR * d
        out.append((p, [v]))
    return out


def hand_adagrad(eps=1e-10, weight_decay=0.0):
    p, s = P0.astype(np.float64), np.zeros(SHAPE)
    out = []
    for g in GRADS:
        g = g.astype(np.float64) + weight_decay * p
        s = s + g ** 2
        p = p - LR * g / (np.sqrt(s) + eps)
        out.append((p, [s]))
    return out


def hand_rmsprop(alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    p, s, b = P0.astype(np.float64), np.zeros(SHAPE), np.zeros(SHAPE)
    out = []
    for g in GRADS:
        g = g.astype(np.float64) + weight_decay * p
        s = alpha * s + (1 - alpha) * g ** 2
        a = np.sqrt(s) + eps
        if momentum:
            b = momentum * b + g / a
            p = p - LR * b
        else:
            p = p - LR * g / a
        out.append((p, [s, b]))
    return out


def hand_adam(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v = P0.astype(np.float64), np.zeros(SHAPE), np.zeros(SHAPE)
    out = []
    for i, g in enumerate(GRADS):
        t = i + 1
        g = g.astype(np.float64)
        if decoupled:
            p = p * (1 - LR * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p = p - LR * m_hat / (np.sqrt(v_hat) + eps)
        out.append((p, [m, v]))
    return out


def hand_lamb(beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0):
    p, m, v = P0.astype(np.float64), np.zeros(SHAPE), np.zeros(SHAPE)
    out = []
    for i, g in enumerate(GRADS):
        t = i + 1
        g = g.astype(np.float64)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        r = m_hat / (np.sqrt(v_hat) + eps) + weight_decay * p
        pn, rn = np.sqrt((p ** 2).sum()), np.sqrt((r ** 2).sum())
        trust = pn / rn if pn > 0 and rn > 0 else 1.0
        p = p - LR * trust * r
        out.append((p, [m, v]))
    return out


# (op, attrs, slots, takes step, hand formula, torch optimiser name, torch kwargs, torch state names)
CASES = [
    ("sgd_update", {}, 1, False, hand_sgd, "SGD", {}, ()),
    ("sgd_update", {"weight_decay": 0.1}, 1, False, hand_sgd, "SGD", {"weight_decay": 0.1}, ()),
    ("sgd_update", {"momentum": 0.9}, 1, False, hand_sgd, "SGD", {"momentum": 0.9}, ("momentum_buffer",)),
    ("sgd_update", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, 1, False, hand_sgd, "SGD",
     {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, ("momentum_buffer",)),
    ("adagrad_update", {}, 1, False, hand_adagrad, "Adagrad", {"eps": 1e-10}, ("sum",)),
    ("adagrad_update", {"weight_decay": 0.1, "eps": 1e-6}, 1, False, hand_adagrad, "Adagrad",
     {"weight_decay": 0.1, "eps": 1e-6}, ("sum",)),
    ("rmsprop_update", {}, 2, False, hand_rmsprop, "RMSprop", {}, ("square_avg",)),
    ("rmsprop_update", {"alpha": 0.9, "momentum": 0.8, "weight_decay": 0.05}, 2, False, hand_rmsprop, "RMSprop",
     {"alpha": 0.9, "momentum": 0.8, "weight_decay": 0.05}, ("square_avg", "momentum_buffer")),
    ("adam_update", {}, 2, True, hand_adam, "Adam", {}, ("exp_avg", "exp_avg_sq")),
    ("adam_update", {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}, 2, True, hand_adam, "Adam",
     {"betas": (0.8, 0.99), "weight_decay": 0.1}, ("exp_avg", "exp_avg_sq")),
    ("adam_update", {"weight_decay": 0.1, "decoupled": True}, 2, True, hand_adam, "AdamW",
     {"weight_decay": 0.1}, ("exp_avg", "exp_avg_sq")),
    ("adam_update", {"weight_decay": 0.01, "decoupled": True, "eps": 1e-6}, 2, True, hand_adam, "AdamW",
     {"weight_decay": 0.01, "eps": 1e-6}, ("exp_avg", "exp_avg_sq")),
    ("lamb_update", {}, 2, True, hand_lamb, None, {}, ()),
    ("lamb_update", {"weight_decay": 0.1, "beta1": 0.8}, 2, True, hand_lamb, None, {}, ()),
]
IDS = [f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[1].items()) or 'defaults'}" for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_three_steps_against_the_formula(case):
    name, over, n_slots, with_step, hand, *_ = case
    got = three_steps(name, attrs_of(name, **over), n_slots, with_step)
    want = hand(**over)
    for (p, slots), (hp, hslots) in zip(got, want):
        close(p, hp)
        for s, hs in zip(slots, hslots):
            close(s, hs)


@pytest.mark.parametrize("case", [c for c in CASES if c[5]], ids=[i for i, c in zip(IDS, CASES) if c[5]])
def test_three_steps_against_torch(case):
    torch = pytest.importorskip("torch")
    name, over, n_slots, with_step, _, torch_name, kwargs, state_names = case
    got = three_steps(name, attrs_of(name, **over), n_slots, with_step)
    w = torch.nn.Parameter(torch.tensor(P0))
    opt = getattr(torch.optim, torch_name)([w], lr=LR, **kwargs)
    for (p, slots), g in zip(got, GRADS):
        w.grad = torch.tensor(g)
        opt.step()
        close(p, w.detach().numpy())
        state = opt.state[w]
        for i, key in enumerate(state_names):
            close(slots[i], state[key].numpy())


def test_momentum_free_slots_pass_through():
    v = rng.standard_normal(SHAPE).astype(np.float32)
    _, (v2,) = run_op("sgd_update", P0, [v], GRADS[0], attrs_of("sgd_update"))
    np.testing.assert_array_equal(v2, v)
    s = np.abs(rng.standard_normal(SHAPE)).astype(np.float32)
    _, (_, b2) = run_op("rmsprop_update", P0, [s, v], GRADS[0], attrs_of("rmsprop_update"))
    np.testing.assert_array_equal(b2, v)


def test_adam_step_input_sets_the_bias_correction():
    """step = 9 means nine updates came before: t = 10 in the bias corrections."""
    m = rng.standard_normal(SHAPE).astype(np.float32) * 0.1
    v = np.abs(rng.standard_normal(SHAPE)).astype(np.float32) * 0.01
    g = GRADS[0]
    p, (m2, v2) = run_op("adam_update", P0, [m, v], g, attrs_of("adam_update"), step=9)
    m_want = 0.9 * m.astype(np.float64) + 0.1 * g
    v_want = 0.999 * v.astype(np.float64) + 0.001 * g.astype(np.float64) ** 2
    p_want = P0 - LR * (m_want / (1 - 0.9 ** 10)) / (np.sqrt(v_want / (1 - 0.999 ** 10)) + 1e-8)
    close(m2, m_want)
    close(v2, v_want)
    close(p, p_want)


def test_scalar_parameter_stays_f32():
    p = f32(1.5)
    for name, slots, step in (("sgd_update", 1, None), ("adagrad_update", 1, None), ("rmsprop_update", 2, None),
                              ("adam_update", 2, 0), ("lamb_update", 2, 0)):
        over = {"momentum": 0.9} if name in ("sgd_update", "rmsprop_update") else {}
        new, new_slots = run_op(name, p, [f32(0.0)] * slots, f32(0.25), attrs_of(name, **over), step=step)
        assert new.shape == () and new.dtype == np.float32 and new < p


# ---- LAMB's trust ratio -----------------------------------------------------------------------------------------

def test_lamb_zero_parameter_uses_trust_one():
    zero = np.zeros(SHAPE, np.float32)
    g = GRADS[0]
    p, _ = run_op("lamb_update", zero, [zero, zero], g, attrs_of("lamb_update"), step=0)
    # t = 1: m̂ = g, v̂ = g², r = g/(|g| + eps), trust 1 because ‖p‖ = 0
    g64 = g.astype(np.float64)
    close(p, -LR * g64 / (np.abs(g64) + 1e-6))


def test_lamb_zero_update_uses_trust_one():
    zero = np.zeros(SHAPE, np.float32)
    p, (m, v) = run_op("lamb_update", P0, [zero, zero], zero, attrs_of("lamb_update"), step=0)
    np.testing.assert_array_equal(p, P0)  # r = 0: nothing moves, and no 0/0
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(m, zero)
    np.testing.assert_array_equal(v, zero)


def test_lamb_zero_parameter_and_zero_update():
    zero = np.zeros(SHAPE, np.float32)
    p, _ = run_op("lamb_update", zero, [zero, zero], zero, attrs_of("lamb_update", weight_decay=0.1), step=0)
    np.testing.assert_array_equal(p, zero)


def test_lamb_trust_ratio_scales_the_step():
    """The step's norm is lr·‖p‖ whenever both norms are positive."""
    zero = np.zeros(SHAPE, np.float32)
    p, _ = run_op("lamb_update", P0, [zero, zero], GRADS[1], attrs_of("lamb_update", weight_decay=0.3), step=0)
    step_norm = np.linalg.norm((p - P0).astype(np.float64))
    assert step_norm == pytest.approx(LR * np.linalg.norm(P0.astype(np.float64)), rel=1e-5)


# ---- shape rules ------------------------------------------------------------------------------------------------

F = TensorType("f32", SHAPE)
LR_T = TensorType("f32", ())
STEP_T = TensorType("i64", ())

SIGS = {
    "sgd_update": [F, F, F, LR_T],
    "adagrad_update": [F, F, F, LR_T],
    "rmsprop_update": [F, F, F, F, LR_T],
    "adam_update": [F, F, F, F, STEP_T, LR_T],
    "lamb_update": [F, F, F, F, STEP_T, LR_T],
}


@pytest.mark.parametrize("name", sorted(SIGS))
def test_shape_rule_outputs_param_and_slots(name):
    o = op(name)
    a = attrs_of(name)
    outs = o.infer(SIGS[name], a)
    assert outs == [F] * o.outputs(a)
    n_slots = sum(1 for n in o.inputs if n not in ("param", "grad", "lr", "step"))
    assert o.outputs(a) == 1 + n_slots
    assert o.inputs[:2] == ("param", "grad") and o.inputs[-1] == "lr"


@pytest.mark.parametrize("name", sorted(SIGS))
def test_shape_rule_errors(name):
    o = op(name)
    a = attrs_of(name)
    ins = SIGS[name]
    bad_shape = TensorType("f32", (3, 5))
    for i, arg in enumerate(o.inputs):
        if arg in ("lr", "step"):
            continue
        wrong = list(ins)
        wrong[i] = bad_shape
        with pytest.raises(ShapeError) as err:
            o.infer(wrong, a)
        # the parameter's own shape sets the standard: blame falls on the first argument that differs
        assert err.value.blame == ("grad" if arg == "param" else arg)
    i = o.inputs.index("lr")
    for bad in (TensorType("f32", (1,)), TensorType("f32", SHAPE), TensorType("i64", ())):
        wrong = list(ins)
        wrong[i] = bad
        with pytest.raises(ShapeError) as err:
            o.infer(wrong, a)
        assert err.value.blame == "lr"
    if "step" in o.inputs:
        i = o.inputs.index("step")
        for bad in (TensorType("i64", (1,)), TensorType("f32", ())):
            wrong = list(ins)
            wrong[i] = bad
            with pytest.raises(ShapeError) as err:
                o.infer(wrong, a)
            assert err.value.blame == "step"
    wrong = list(ins)
    wrong[2] = TensorType("f64", SHAPE)
    with pytest.raises(ShapeError):
        o.infer(wrong, a)
    with pytest.raises(ShapeError):
        o.infer([TensorType("i32", SHAPE)] + list(ins[1:]), a)


def test_shape_rule_symbolic_shapes():
    from nnc.ir.types import sym
    t = TensorType("f32", (sym("N"), 4))
    assert op("sgd_update").infer([t, t, t, LR_T], attrs_of("sgd_update")) == [t, t]
    with pytest.raises(ShapeError):
        op("sgd_update").infer([t, TensorType("f32", (sym("M"), 4)), t, LR_T], attrs_of("sgd_update"))


def test_attribute_checks():
    with pytest.raises(ShapeError) as err:
        op("sgd_update").infer(SIGS["sgd_update"], attrs_of("sgd_update", nesterov=True))
    assert err.value.blame == "nesterov"
    for name in ("adam_update", "lamb_update"):
        with pytest.raises(ShapeError) as err:
            op(name).infer(SIGS[name], attrs_of(name, beta2=1.0))
        assert err.value.blame == "beta2"


# ---- schedules --------------------------------------------------------------------------------------------------

def lr_op(schedule, t):
    o = op("lr_schedule")
    a = o.resolve([STEP_T], {"schedule": schedule})
    assert o.infer([STEP_T], a) == [TensorType("f32", ())]
    (out,) = o.reference([np.asarray(t, dtype=np.int64)], a, None)
    assert out.shape == () and out.dtype == np.float32
    return float(out)


TS = (0, 1, 2, 7, 10, 99, 100, 101, 250)

SCHEDULE_CASES = [
    (0.01, lambda t: 0.01),
    (("cosine", 0.1, 100, 0.001),
     lambda t: 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * min(t, 100) / 100)) / 2),
    (("cosine", 0.5, 10, 0.0), lambda t: 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)) / 2),
    (("step_decay", 0.1, 10, 0.5), lambda t: 0.1 * 0.5 ** (t // 10)),
    (("inverse_time", 0.1, 0.05), lambda t: 0.1 / (1 + 0.05 * t)),
    (("warmup", 10, 0.02), lambda t: 0.02 * min(1.0, (t + 1) / 10)),
    (("warmup", 5, ("cosine", 0.1, 100, 0.0)),
     lambda t: 0.1 * (1 + math.cos(math.pi * min(t, 100) / 100)) / 2 * min(1.0, (t + 1) / 5)),
    (("warmup", 3, ("warmup", 6, ("step_decay", 1.0, 4, 0.1))),
     lambda t: 1.0 * 0.1 ** (t // 4) * min(1.0, (t + 1) / 6) * min(1.0, (t + 1) / 3)),
]


@pytest.mark.parametrize("schedule, formula", SCHEDULE_CASES, ids=[str(s) for s, _ in SCHEDULE_CASES])
def test_schedule_values(schedule, formula):
    for t in TS:
        want = formula(t)
        assert schedule_value(schedule, t) == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert lr_op(schedule, t) == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_schedule_landmarks():
    cos = ("cosine", 0.1, 100, 0.001)
    assert schedule_value(cos, 0) == pytest.approx(0.1)
    assert schedule_value(cos, 50) == pytest.approx((0.1 + 0.001) / 2)
    assert schedule_value(cos, 100) == pytest.approx(0.001)
    assert schedule_value(cos, 1000) == pytest.approx(0.001)
    warm = ("warmup", 4, cos)
    assert [schedule_value(warm, t) / schedule_value(cos, t) for t in range(6)] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert schedule_value(("step_decay", 1.0, 3, 0.5), 2) == 1.0
    assert schedule_value(("step_decay", 1.0, 3, 0.5), 3) == 0.5


def test_schedule_from_spec():
    from nnc.elaborate.values import ScheduleSpec
    from nnc.ops.lr_schedule import FIELDS
    from nnc.optimizers import SCHEDULES

    assert {n: tuple(f for f, _ in fs) for n, fs in FIELDS.items()} == \
        {n: tuple(a.name for a in attrs if a.name != "per") for n, attrs in SCHEDULES.items()}  # per: epochs
    assert schedule_from_spec(0.01) == 0.01
    cos = ScheduleSpec("cosine", (("lr", 0.1), ("steps", 100), ("min_lr", 0.0)))
    assert schedule_from_spec(cos) == ("cosine", 0.1, 100, 0.0)
    spec = ScheduleSpec("warmup", (("steps", 5), ("schedule", cos)))
    assert schedule_from_spec(spec) == ("warmup", 5, ("cosine", 0.1, 100, 0.0))
    assert schedule_from_spec(ScheduleSpec("cosine", (("lr", 0.1), ("steps", 10)))) == ("cosine", 0.1, 10, 0.0)
    assert schedule_from_spec(ScheduleSpec("step_decay", (("lr", 1), ("every", 3), ("factor", 0.5)))) == \
        ("step_decay", 1.0, 3, 0.5)
    assert schedule_from_spec(ScheduleSpec("inverse_time", (("lr", 0.1), ("decay", 0.01)))) == \
        ("inverse_time", 0.1, 0.01)
    assert schedule_from_spec(ScheduleSpec("warmup", (("steps", 2), ("schedule", 0.3)))) == ("warmup", 2, 0.3)
    with pytest.raises(ValueError):
        schedule_from_spec(ScheduleSpec("linear", (("lr", 0.1),)))
    with pytest.raises(ValueError):
        schedule_from_spec(ScheduleSpec("step_decay", (("lr", 0.1), ("every", 3))))


def test_schedule_attribute_is_plain_data():
    from nnc.ir.verify import _plain
    spec = ("warmup", 5, ("cosine", 0.1, 100, 0.0))
    assert _plain(op("lr_schedule").resolve([STEP_T], {"schedule": spec})["schedule"])


@pytest.mark.parametrize("bad", [("cosine", 0.1, 0, 0.0), ("cosine", 0.1, 10), ("linear", 0.1), -0.1,
                                 ("step_decay", 0.1, 2.5, 0.5), ("warmup", 3, ("bogus",)), "cosine", None,
                                 ("inverse_time", 0.1, -1.0), ("inverse_time", True, 0.1)])
def test_malformed_schedules_are_shape_errors(bad):
    with pytest.raises(ShapeError) as err:
        op("lr_schedule").infer([STEP_T], {"schedule": bad})
    assert err.value.blame == "schedule"


def test_lr_schedule_shape_rule():
    o = op("lr_schedule")
    for bad in (TensorType("i64", (1,)), TensorType("f32", ())):
        with pytest.raises(ShapeError) as err:
            o.infer([bad], {"schedule": 0.1})
        assert err.value.blame == "step"


# ---- registry ---------------------------------------------------------------------------------------------------

def test_registered_and_internal():
    reg = registry()
    for name in NEW_OPS:
        assert name in reg, name
        o = reg[name]
        assert o.internal and o.name == name and o.reference is not None and o.infer is not None
    from nnc.ops import public_names
    assert not set(NEW_OPS) & set(public_names())
