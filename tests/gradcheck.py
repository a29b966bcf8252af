"""Checking gradients against central finite differences in float64.

The loss is L = Σ y·R for a fixed random R, so one scalar exercises every
element of the op's output.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from helpers import check
from nnc.init import initialize
from nnc.interp import Context, run_graph
from nnc.passes.autodiff import differentiate
from nnc.passes.emit import Emitter, builder_from, tensor


def projected(graph, output: str):
    """The graph with an extra input __r and output __loss = sum(y * __r)."""
    b = builder_from(graph)
    y = tensor(b, dict(graph.outputs)[output])
    r = b.add_input("__r", y.type, None)
    e = Emitter(b, None, "", "check")
    loss = e("sum", e("mul", y, r))
    b.outputs = [("__loss", loss.id)]
    return b.build(), loss.id


def gradcheck(src: str, feeds: dict, output: str = "y", model: str = "m", seed: int = 0, eps: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-7, skip: tuple = (), transform=None):
    """transform, when given, rewrites the model's graph first (e.g. into training mode)."""
    result = check(src)
    assert not [d for d in result.diagnostics if d.is_error], [d.message for d in result.diagnostics]
    original = result.models[model].graph
    if transform is not None:
        original = transform(original)
    graph, loss = projected(original, output)
    rng = np.random.default_rng(seed)
    params = {k: v.astype(np.float64) for k, v in initialize(graph.params, seed).items()}
    for p in graph.params:  # make biases and norms non-trivial too
        params[p.name] = params[p.name] + 0.1 * rng.normal(size=params[p.name].shape)
        if p.name.endswith("running_var"):
            params[p.name] = np.abs(params[p.name]) + 0.5
    feeds = {k: (np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else np.asarray(v))
             for k, v in feeds.items()}
    y = run_graph(original, feeds, params, Context(), outputs=[output])[output]
    feeds["__r"] = rng.normal(size=y.shape)
    wrt_inputs = [(n, v) for n, v in graph.inputs if n != "__r" and feeds[n].dtype.kind == "f" and n not in skip]
    wrt_params = [(p.name, p.value.id) for p in graph.params if p.trainable and p.name not in skip]
    wrt = [v for _, v in wrt_inputs + wrt_params]
    full, grads = differentiate(graph, loss, wrt)
    outputs = [(f"grad:{name}", grads[v]) for name, v in wrt_inputs + wrt_params if grads[v] is not None]
    full = dataclasses.replace(full, outputs=tuple(outputs) + (("__loss", loss),))
    got = run_graph(full, feeds, params, Context())

    def loss_at(feeds_, params_):
        return float(run_graph(graph, feeds_, params_, Context())["__loss"])

    checked = 0
    for name, vid in wrt_inputs + wrt_params:
        is_input = any(name == n for n, _ in wrt_inputs)
        base = feeds if is_input else params
        x = base[name]
        numeric = np.zeros_like(x, dtype=np.float64)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + eps
            up = loss_at(feeds, params)
            x[idx] = old - eps
            down = loss_at(feeds, params)
            x[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        analytic = got.get(f"grad:{name}")
        analytic = np.zeros_like(numeric) if analytic is None else analytic
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of {name}")
        checked += 1
    assert checked, "nothing was differentiated"
