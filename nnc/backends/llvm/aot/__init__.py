"""`nnc compile --target llvm`: a self-contained C library with its header, training step included.

    entry.py    one model or train step: lowered, emitted and renamed like the in-process code
    objects.py  position-independent objects (the in-process optimisation pipeline), the system C compiler
    cgen.py     the public header NAME.h and the glue describing each entry to the runtime
    weights.py  weights files (nnc checkpoint format with a CRC-32)

An inference entry has a second, hidden entry point (`nnc_prepare_PREFIX`, entry.py): the parameter-only
work hoisted out of the call as in process (nnc/passes/hoist.py), run by the runtime once per change of the
weights. The C runtime (instances, calls, parameters by name, the safetensors reader/writer with checksum, error
state) is in runtime/ (packaged as nnc/runtime/, a link in the source tree) and is compiled into every library. What is written, into the output folder:
libNAME.so, libNAME.a, NAME.h, PREFIX.safetensors per entry (unless --embed-weights) and README.md.
Everything is built in a temporary folder first and moved in place file by file (os.replace), so a
failed build leaves the folder as it was.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .entry import Entry, LibraryError, build_entry

RUNTIME = Path(__file__).resolve().parents[3] / "runtime"
RUNTIME_SOURCES = ("nnc_runtime.c", "nnc_weights.c")


def entries_of(result, model: str | None, train: str | None, batch: int | None, cpu: str | None,
               checked: bool, seed: int, hoist: bool = True) -> list[Entry]:
    """The chosen model (or train block), or every one of the program's, lowered and emitted."""
    from ..report import model_graph, step_graph
    chosen_models = [model] if model else ([] if train else list(result.models))
    chosen_trains = [train] if train else ([] if model else list(result.trains))
    prefixes: set[str] = set()
    out = []
    from .cgen import ident
    for kind, names in (("model", chosen_models), ("train", chosen_trains)):
        for name in names:
            prefix = ident(name)
            if prefix in prefixes:
                prefix = f"{prefix}_{kind}"
            prefixes.add(prefix)
            if kind == "model":
                graph, sig = model_graph(result.models[name].graph)
                b = batch
            else:
                graph, sig = step_graph(result.trains[name])
                b = batch or int(result.trains[name].settings.get("batch", 1) or 1)
            e = build_entry(graph, sig, kind, name, prefix, b, cpu, checked, hoist)
            e.seed = seed
            out.append(e)
    return out


def initial_values(result, e: Entry, seed: int) -> dict:
    """The values an entry starts from: the parameters initialised with `seed` as Program.model / Trainer
    do (slots zero, the counter 0)."""
    from ....init import initialize
    from ..report import model_graph, step_graph
    graph = (model_graph(result.models[e.name].graph)[0] if e.kind == "model"
             else step_graph(result.trains[e.name])[0])
    return dict(initialize(graph.params, seed))


def compile_library(result, out: Path, name: str, model: str | None, train: str | None, seed: int,
                    source: str, batch: int | None = None, cpu: str | None = None, embed_weights: bool = False,
                    checked: bool = False, opt: int = 3, hoist: bool = True) -> list[Path]:
    """Write libNAME.so, libNAME.a, NAME.h and the weights into `out`; the paths written. `hoist` (default,
    as in process): a model's parameter-only work is a prepare entry run once per change of the weights."""
    from .. import target as T
    from . import cgen
    from .objects import build, c_compiler, pic_object
    from .weights import weights_file
    cc = c_compiler()
    entries = entries_of(result, model, train, batch, cpu, checked, seed, hoist)
    if not entries:
        raise LibraryError(f"{source} has no model and no train block to compile")
    host = T.host(cpu or os.environ.get("NNC_LLVM_CPU") or None)
    lib = cgen.ident(name)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".nnc-build-", dir=out) as tmp:
        work = Path(tmp)
        objects, weights, embedded = [], [], {}
        for e in entries:
            obj = work / f"{e.prefix}.model.o"
            code = pic_object(e.ir, host, opt)
            obj.write_bytes(code)
            objects.append(obj)
            codes = [code]
            if e.prepare is not None:  # the hoisted work on parameters: a second, hidden entry point
                prep = work / f"{e.prefix}.prepare.o"
                codes.append(pic_object(e.prepare.ir, host, opt))
                prep.write_bytes(codes[-1])
                objects.append(prep)
            for dtype, lib_code in (pair for c in codes for pair in support_objects(c, host)):
                path = work / f"nnc_library_{dtype}.o"
                if path not in objects:
                    path.write_bytes(lib_code)
                    objects.append(path)
            w = work / f"{e.prefix}.safetensors"
            w.write_bytes(weights_file(e, initial_values(result, e, seed), seed))
            weights.append(w)
            if embed_weights:
                embedded[e.prefix] = str(w)
        (work / f"{lib}.h").write_text(cgen.header(lib, source, entries, embed_weights))
        glue = work / f"{lib}_glue.c"
        glue.write_text(cgen.glue(entries, embedded))
        sources = [glue] + [RUNTIME / s for s in RUNTIME_SOURCES]
        build(cc, sources, objects, [RUNTIME, work], work / f"lib{lib}.so", work / f"lib{lib}.a", work,
              [e.prefix for e in entries])
        (work / "README.md").write_text(readme(lib, source, entries, embed_weights))
        final = [f"lib{lib}.so", f"lib{lib}.a", f"{lib}.h"]
        if not embed_weights:
            final += [w.name for w in weights]
        final.append("README.md")
        written = []
        for f in final:
            os.replace(work / f, out / f)
            written.append(out / f)
    return written


def support_objects(code: bytes, host) -> list[tuple[str, bytes]]:
    """The position-independent objects of the kernel library (library.py: GEMM, thread pool) that a model
    object calls, as the in-process engine loads them beside it (target.Loaded)."""
    try:
        from .. import library
    except ImportError:
        return []
    return [(dtype, library.object(host, dtype, pic=True)) for dtype in library.needed(code)]


def readme(lib: str, source: str, entries: list[Entry], embedded: bool) -> str:
    """The README written next to the library: the files and the two commands that use them."""
    lines = [f"# lib{lib}: compiled by nnc from {source}", "",
             f"- `lib{lib}.so`, `lib{lib}.a`: the library (needs libc, libm and pthreads only)",
             f"- `{lib}.h`: its interface; every tensor's name, dtype and shape, the memory plan"]
    if not embedded:
        lines += [f"- `{e.prefix}.safetensors`: the initial weights of {e.kind} {e.name}" for e in entries]
    lines += ["", "Build a program against it:", "", "```sh",
              f"cc -O2 main.c -I. -L. -l{lib} -Wl,-rpath,'$ORIGIN' -o main      # shared",
              f"cc -O2 main.c -I. lib{lib}.a -lm -pthread -o main             # static", "```", "",
              "The functions (see the header for their documentation):", ""]
    for e in entries:
        call = "step" if e.kind == "train" else "forward"
        lines.append(f"- {e.kind} `{e.name}`: `{e.prefix}_create`, `{e.prefix}_{call}`, `{e.prefix}_load`, "
                     f"`{e.prefix}_save`, `{e.prefix}_get`, `{e.prefix}_set`, `{e.prefix}_last_error`, "
                     f"`{e.prefix}_destroy`")
    return "\n".join(lines) + "\n"
