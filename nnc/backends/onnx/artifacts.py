"""`nnc compile --target onnx`: MODEL.onnx and TRAIN.step.onnx with initial values, and a README to run them.

A model's parameters are initializers. A training step keeps every
parameter, slot, the step counter and the key as *inputs* that also have an
initializer of the same name (ONNX's default values): the first step runs
from the stored initial values with nothing but the batch fed, and each step
returns `new/X` for every X it updates, which the caller feeds back as X
next time. The pairs are in the model's metadata (`nnc.updates`), so
onnxruntime and numpy are all a user needs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...ir.types import dim_str
from ..base import Role
from .builder import NP_DTYPES
from .export import check, export


def _example_feed(graph, names) -> str:
    """Python text building a random batch of 4 for the inputs `names`."""
    parts = []
    for n in names:
        t = graph.input_type(n)
        shape = tuple(d if isinstance(d, int) else 4 for d in t.shape)
        dt = NP_DTYPES[t.dtype].__name__
        if t.is_float:
            parts.append(f"{n!r}: np.random.rand(*{shape}).astype(np.{dt})")
        else:
            parts.append(f"{n!r}: np.random.randint(0, 2, {shape}).astype(np.{dt})")
    return "{" + ", ".join(parts) + "}"


def write_model(graph, name: str, out: Path, seed: int, source: str) -> Path:
    """MODEL.onnx: the inference graph, parameters (initialised with `seed`) baked in as initializers."""
    from ...init import initialize
    from ...passes.pipeline import prepare
    from . import BACKEND
    from ..base import inference_signature
    prepared = prepare(graph, BACKEND)
    exported = export(prepared, inference_signature(graph), initializers=initialize(graph.params, seed),
                      doc=f"nnc model {name} from {source}")
    check(exported.model)
    path = out / f"{name}.onnx"
    path.write_bytes(exported.model.SerializeToString())
    return path


def write_step(info, name: str, out: Path, seed: int, source: str) -> tuple[Path, dict]:
    """TRAIN.step.onnx: one whole training step; its state inputs default to the initial values."""
    from ...init import initialize
    from ...passes.pipeline import prepare
    from ...passes.training import KEY_INPUT, STEP_INPUT
    from ...train.step import build_step
    from . import BACKEND
    step = build_step(info)
    sig = step.signature
    values = initialize(step.graph.params, seed)
    values.update({p.name: np.zeros(tuple(int(d) for d in p.type.shape), NP_DTYPES[p.type.dtype])
                   for p in sig.inputs_of(Role.SLOT)})
    values[KEY_INPUT] = np.asarray(seed, np.int64)
    values[STEP_INPUT] = np.asarray(0, np.int64)
    exported = export(prepare(step.graph, BACKEND), sig, defaults=values, doc=f"nnc train {name} from {source}")
    check(exported.model)
    path = out / f"{name}.step.onnx"
    path.write_bytes(exported.model.SerializeToString())
    about = {"batch": list(step.batch_inputs), "reports": list(sig.reports), "losses": list(step.losses),
             "updates": sig.updates, "feed": _example_feed(step.graph, step.batch_inputs),
             "shapes": {n: f"{step.graph.input_type(n).dtype}[{', '.join(dim_str(d) for d in step.graph.input_type(n).shape)}]"
                        for n in step.batch_inputs}}
    return path, about


def readme(source: str, models: dict, steps: dict) -> str:
    """The README written next to the .onnx files: what each file is and ten lines that run it."""
    lines = [f"# ONNX files compiled by nnc from {source}", "",
             "Standard ONNX (opset 21, IR version 10); run them with onnxruntime and numpy alone.", ""]
    for name, about in models.items():
        lines += [f"## `{name}.onnx`: the model `{name}`", "",
                  f"Inputs {', '.join(f'`{n}` {t}' for n, t in about['shapes'].items())}; outputs "
                  f"{', '.join(f'`{n}`' for n in about['outputs'])}. The parameters are stored in the file "
                  f"(initialised with seed {about['seed']}).", "",
                  "```python", "import numpy as np", "import onnxruntime as ort", "",
                  f"session = ort.InferenceSession({name + '.onnx'!r}, providers=['CPUExecutionProvider'])",
                  f"outputs = session.run(None, {about['feed']})",
                  "print([o.shape for o in outputs])", "```", ""]
    for name, about in steps.items():
        reports = about["reports"]
        lines += [f"## `{name}.step.onnx`: one training step of `{name}`", "",
                  f"Feed the batch ({', '.join(f'`{n}` {t}' for n, t in about['shapes'].items())}). Every "
                  "parameter, optimiser slot, the step counter `nnc.step` and the random key `nnc.key` is an "
                  "input too, with its initial value stored in the file as the input's default, so the first "
                  "step needs nothing else. Each step returns the reports "
                  f"({', '.join(f'`{n}`' for n in reports)}) and `new/X` for every input X it updates; feed "
                  "`new/X` back as X in the next step. The metadata entry `nnc.updates` maps each such output "
                  "to the input it replaces (`nnc.roles` gives every input's role). A non-finite "
                  f"{'/'.join(about['losses']) or 'loss'} means: keep the previous state.", "",
                  "```python", "import json", "import numpy as np", "import onnxruntime as ort", "",
                  "ort.set_default_logger_severity(3)  # quiet: inputs with stored defaults are meant to be fed",
                  f"session = ort.InferenceSession({name + '.step.onnx'!r}, providers=['CPUExecutionProvider'])",
                  "updates = json.loads(session.get_modelmeta().custom_metadata_map['nnc.updates'])",
                  "names = [o.name for o in session.get_outputs()]",
                  "state = {}  # empty: the first step starts from the initial values stored in the file",
                  "for step in range(3):",
                  f"    batch = {about['feed']}",
                  "    values = dict(zip(names, session.run(names, {**batch, **state})))",
                  "    state = {updates[n]: values[n] for n in updates}  # the next step's inputs",
                  f"    print(step, {{n: float(values[n]) for n in {reports!r}}})", "```", ""]
    return "\n".join(lines)


def compile_onnx(result, out: Path, model: str | None, train: str | None, seed: int, source: str) -> list[Path]:
    """Write the chosen model (or train block), or every one of the program's, and the README; the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written, models, steps = [], {}, {}
    chosen_models = [model] if model else ([] if train else list(result.models))
    chosen_trains = [train] if train else ([] if model else list(result.trains))
    for name in chosen_models:
        graph = result.models[name].graph
        written.append(write_model(graph, name, out, seed, source))
        models[name] = {"seed": seed, "outputs": [n for n, _ in graph.outputs],
                        "feed": _example_feed(graph, [n for n, _ in graph.inputs]),
                        "shapes": {n: f"{graph.type_of(v).dtype}[{', '.join(dim_str(d) for d in graph.type_of(v).shape)}]"
                                   for n, v in graph.inputs}}
    for name in chosen_trains:
        path, about = write_step(result.trains[name], name, out, seed, source)
        written.append(path)
        steps[name] = about
    (out / "README.md").write_text(readme(source, models, steps))
    (out / "nnc-onnx.json").write_text(json.dumps({"source": source, "seed": seed, "models": list(models),
                                                   "steps": {n: {k: a[k] for k in ("batch", "reports", "updates")}
                                                             for n, a in steps.items()}}, indent=1))
    return written + [out / "README.md"]
