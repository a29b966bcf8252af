"""The `nnc` command line: argument parsing only; every command is a function of the library."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnc", description="A compiler for neural networks written in .nn files.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    c = sub.add_parser("check", help="parse, elaborate and shape-check programs; print diagnostics")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("-W", dest="warnings", choices=("error",), help="-W error: treat warnings as errors")

    s = sub.add_parser("stats", help="per-layer shapes, parameters, MACs and activation memory")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--model", metavar="M", help="only this model")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("-W", dest="warnings", choices=("error",))
    s.add_argument("--backend", choices=("llvm",), help="also the memory plan of the model compiled by this backend")
    _llvm_flags(s)
    s.add_argument("--profile", action="store_true", help="llvm: run the compiled model and print per kernel its "
                   "time, FLOPs, GFLOP/s and share of the machine's measured peak")
    s.add_argument("--train", metavar="T", help="with --profile: profile one training step of train block T")

    t = sub.add_parser("train", help="run a program's training: epochs, held-out metrics, checkpoints")
    t.add_argument("file", metavar="FILE")
    t.add_argument("--train", metavar="T", help="the train block (needed when the file has several)")
    t.add_argument("--data", metavar="D", help='"digits", "synthetic", an IDX folder or an .npz file')
    t.add_argument("--epochs", type=_positive, metavar="E")
    t.add_argument("--batch", type=_positive, metavar="B")
    t.add_argument("--val", type=_fraction, default=0.1, metavar="F", help="held-out fraction (default 0.1)")
    t.add_argument("--seed", type=int, default=0)
    _backend_flags(t)
    t.add_argument("--checkpoint", metavar="DIR", help="write DIR/last.safetensors (and best) after each epoch")
    t.add_argument("--resume", action="store_true", help="continue from DIR/last.safetensors")
    t.add_argument("--init-from", metavar="CKPT", help="start from another run's weights, matched by parameter name")
    t.add_argument("--patience", type=_positive, metavar="P", help="stop after P epochs without improvement")
    t.add_argument("--plot", metavar="PNG", help="draw loss and metrics per epoch")
    t.add_argument("--format", choices=("text", "json"), default="text")
    dist = t.add_argument_group("data-parallel training (docs/distributed.md)")
    dist.add_argument("--workers", type=_positive, metavar="N", help="train on N MPI processes (mpiexec is started here)")
    dist.add_argument("--virtual-shards", type=_positive, metavar="V", help="split every batch into V shards summed "
                      "in a fixed tree: the same bits for any --workers dividing V (default: the worker count)")
    dist.add_argument("--reduction", choices=("exact", "allreduce"), default="exact",
                      help="exact: the fixed tree (default); allreduce: MPI's own sum, not reproducible across N")
    dist.add_argument("--threads", type=_positive, metavar="T", help="BLAS/OpenMP threads per worker (default 1)")
    dist.add_argument("--check-every", type=_positive, metavar="K", help="check every K steps that all ranks hold "
                      "the same parameters")
    dist.add_argument("--step-timeout", type=float, metavar="S", help="end the job, naming the rank, when a step "
                      "takes longer than S seconds")

    r = sub.add_parser("run", help="inference with trained weights")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--model", metavar="M")
    r.add_argument("--weights", metavar="CKPT", help="a checkpoint written by nnc train")
    r.add_argument("--input", action="append", metavar="NAME=file.npy")
    r.add_argument("-o", "--output", metavar="out.npz")
    r.add_argument("--mc-samples", type=_positive, metavar="K", help="K passes with dropout on: mean and std")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--checked", action="store_true", help="llvm: check every layer's values; the first NaN or "
                                                         "infinity is an error naming its layer and line")
    _backend_flags(r)

    v = sub.add_parser("verify", help="run every model and train step on the numpy oracle and a backend; "
                                      "report agreement or the first node that diverges")
    v.add_argument("file", metavar="FILE")
    group = v.add_mutually_exclusive_group()
    group.add_argument("--model", metavar="M", help="only this model")
    group.add_argument("--train", metavar="T", help="only this train block")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--batch", type=_positive, default=2, metavar="B", help="the batch size of the random inputs")
    v.add_argument("--rtol", type=float, default=1e-4, help="the largest relative error that agrees")
    v.add_argument("--format", choices=("text", "json"), default="text")
    _backend_flags(v)

    o = sub.add_parser("compile", help="write compiled artifacts (onnx: MODEL.onnx, TRAIN.step.onnx, README; "
                                       "llvm: libNAME.so, libNAME.a, NAME.h, weights)")
    o.add_argument("file", metavar="FILE")
    o.add_argument("--target", choices=("onnx", "llvm"), required=True)
    only = o.add_mutually_exclusive_group()
    only.add_argument("--model", metavar="M", help="only this model")
    only.add_argument("--train", metavar="T", help="only this train block")
    o.add_argument("-o", "--output", metavar="DIR", default=".", help="the output folder (default: here)")
    o.add_argument("--seed", type=int, default=0, help="the seed of the initial parameters")
    o.add_argument("--explain", action="store_true", help="llvm: list the kernels and the .nn lines each came from")
    o.add_argument("--embed-weights", action="store_true", help="llvm: compile the weights into the library")
    o.add_argument("--checked", action="store_true",
                   help="llvm: check every layer's values; the first NaN or infinity is an error naming its line")
    _llvm_flags(o)

    g = sub.add_parser("graph", help="the dataflow graph as built and as a compiled backend receives it: "
                                     "text, DOT or SVG")
    g.add_argument("file", metavar="FILE")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--model", metavar="M")
    which.add_argument("--train", metavar="T", help="the training step of a train block")
    g.add_argument("--stage", choices=("built", "primitives", "both"), default="both",
                   help="as built, after decomposition into primitives, or both (default)")
    g.add_argument("-o", "--output", metavar="OUT", help="graph.svg (needs Graphviz), graph.dot, or a text file")

    e = sub.add_parser("explain", help="the long explanation of a diagnostic code, e.g. nnc explain E0301")
    e.add_argument("code")

    k = sub.add_parser("cache", help="nnc cache info: where nnc caches parser tables and compiled code; "
                                     "nnc cache clear: empty it")
    k.add_argument("action", choices=("info", "clear"))

    sub.add_parser("lsp", help="the language server (LSP over stdin and stdout) for editors; see docs/editors.md")
    return p


def _backend_flags(p: argparse.ArgumentParser) -> None:
    """--backend (choices from the registry, which imports no backend) and --device."""
    from .backends import names
    p.add_argument("--backend", choices=names(), default="numpy", help="which backend compiles and runs it")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="auto: cuda where the backend can use it here, else the cpu (saying why)")


def _llvm_flags(p: argparse.ArgumentParser) -> None:
    """--batch and --cpu of the commands that show what the llvm backend compiles (stats, compile --explain)."""
    p.add_argument("--batch", type=_positive, metavar="B", help="llvm: the batch size (default 1)")
    p.add_argument("--cpu", metavar="NAME", help="llvm: generate code for this CPU (default: $NNC_LLVM_CPU, else "
                                                  "this machine's)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, found {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), found {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point. Runs in a thread with a large stack so deep programs end in diagnostics, not crashes."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error (or --help)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    from .compiler import run_deep
    try:
        return run_deep(_dispatch, args)  # a 256 MB stack, recursion limit 20000
    except KeyboardInterrupt:
        return 130


def _dispatch(args) -> int:
    try:
        return {"check": cmd_check, "stats": cmd_stats, "explain": cmd_explain, "train": cmd_train,
                "run": cmd_run, "verify": cmd_verify, "graph": cmd_graph, "cache": cmd_cache, "lsp": cmd_lsp, "compile": cmd_compile}[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # an internal failure: one line naming the bug, never a traceback
        import traceback
        frame = traceback.extract_tb(e.__traceback__)[-1]
        print(f"nnc: internal error: {type(e).__name__}: {e} (at {Path(frame.filename).name}:{frame.lineno}); "
              f"this is a bug in nnc, please report it with the program that caused it", file=sys.stderr)
        if os.environ.get("NNC_DEBUG"):
            traceback.print_exc()
        return EXIT_INTERNAL


def _check(path: str, warnings_as_errors: bool):
    from .compiler import check_file
    from .elaborate import UnreadableFile
    try:
        return check_file(Path(path), warnings_as_errors=warnings_as_errors), None
    except UnreadableFile as e:
        return None, str(e)


def _models_json(result) -> dict:
    from .ir.types import shape_json
    out = {}
    for name, info in result.models.items():
        g = info.graph
        out[name] = {
            "inputs": {n: {"dtype": g.type_of(v).dtype, "shape": shape_json(g.type_of(v).shape)} for n, v in g.inputs},
            "outputs": {n: {"dtype": g.type_of(v).dtype, "shape": shape_json(g.type_of(v).shape)} for n, v in g.outputs},
        }
    return out


def cmd_check(args) -> int:
    from .diagnostics import render_text
    from .source import SourceSet
    diagnostics, models, unreadable = [], {}, []
    sources = SourceSet()
    for f in args.files:
        result, problem = _check(f, args.warnings == "error")
        if problem:
            unreadable.append(problem)
            continue
        diagnostics += result.diagnostics
        models.update(_models_json(result))
        sources.files.update(result.sources.files)
    for problem in unreadable:
        print(f"nnc: error: {problem}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"diagnostics": [d.to_json() for d in diagnostics], "models": models}))
    elif diagnostics:
        print(render_text(diagnostics, sources))
    if unreadable:
        return EXIT_USAGE
    return EXIT_ERRORS if any(d.is_error for d in diagnostics) else EXIT_OK


def cmd_stats(args) -> int:
    from .diagnostics import render_text
    from .stats import model_stats, render_table
    result, problem = _check(args.file, args.warnings == "error")
    if problem:
        print(f"nnc: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if result.errors:
        if args.format == "json":
            print(json.dumps({"diagnostics": [d.to_json() for d in result.diagnostics], "models": {}}))
        else:
            print(render_text(result.diagnostics, result.sources), file=sys.stderr)
        return EXIT_ERRORS
    models = result.models
    if args.model:
        if args.model not in models:
            known = ", ".join(models) or "none"
            print(f"nnc: error: no model `{args.model}` in {args.file} (models: {known})", file=sys.stderr)
            return EXIT_USAGE
        models = {args.model: models[args.model]}
    if (args.batch or args.cpu) and not args.backend:
        print("nnc: error: --batch and --cpu go with --backend llvm (the plan of the compiled model)", file=sys.stderr)
        return EXIT_USAGE
    if (args.profile or args.train) and args.backend != "llvm" or args.train and not args.profile:
        print("nnc: error: --profile goes with --backend llvm, --train with --profile", file=sys.stderr)
        return EXIT_USAGE
    if args.train and args.train not in result.trains:
        print(f"nnc: error: no train block `{args.train}` in {args.file} (train blocks: "
              f"{', '.join(result.trains) or 'none'})", file=sys.stderr)
        return EXIT_USAGE
    if args.train and not args.model:
        models = {}  # --train alone: only the training step
    stats = {name: model_stats(info.graph) for name, info in models.items()}
    plans, profiles, step_profile = {}, {}, None
    if args.backend == "llvm":
        plans = _llvm_reports(lambda r: {n: r.model_report(info, args.batch or 1, args.cpu)
                                         for n, info in models.items()})
        if plans is None:
            return EXIT_USAGE
    if args.profile:  # the measured profile of each model (and of the --train step): backends/llvm/report.py
        measured = _llvm_reports(lambda r: r.stats_profiles(models, result.trains.get(args.train), args.batch or 1,
                                                            args.cpu))
        if measured is None:
            return EXIT_USAGE
        profiles, step_profile = measured
    if args.format == "json":
        out = {"models": {name: s.to_json() | ({"llvm": plans[name].plan_json()} if plans else {})
                          | ({"profile": profiles[name].to_json()} if name in profiles else {})
                          for name, s in stats.items()}}
        if args.train:
            out["trains"] = {args.train: {"profile": step_profile.to_json()}}
        print(json.dumps(out))
        return EXIT_OK
    if result.diagnostics:
        print(render_text(result.diagnostics, result.sources), file=sys.stderr)
    tables = []
    for name, s in stats.items():
        g = models[name].graph
        tables.append(render_table(s, {n: g.type_of(v) for n, v in g.inputs}))
        if plans:
            from .backends.llvm.report import plan_text
            tables[-1] += "\n" + plan_text(plans[name])
    if args.profile:
        from .backends.llvm.report import profile_text
        tables = [t + "\n\n" + profile_text(profiles[n]) for t, n in zip(tables, stats)]
        if step_profile is not None:
            tables.append(profile_text(step_profile))
    print("\n\n".join(tables))
    return EXIT_OK


def _llvm_reports(make):
    """`make(report_module)` with the llvm backend, or None after one line saying why it cannot
    (llvmlite missing, an op not lowered, an unknown --cpu, a size the graph cannot take)."""
    from .backends import BackendUnavailable, resolve
    from .interp import RunError
    try:
        resolve("llvm")
        from .backends.llvm import report
        return make(report)
    except (BackendUnavailable, RunError) as e:
        print(f"nnc: error: {e}", file=sys.stderr)
        return None


def cmd_train(args) -> int:
    from .train.commands import train_command
    return train_command(args)


def cmd_run(args) -> int:
    from .train.commands import run_command
    if not args.checked:
        return run_command(args)
    if args.backend != "llvm":
        print("nnc: error: --checked goes with --backend llvm", file=sys.stderr)
        return EXIT_USAGE
    saved = os.environ.get("NNC_CHECKED")
    os.environ["NNC_CHECKED"] = "1"  # the llvm backend's option `checked` (checked.py)
    try:
        return run_command(args)
    finally:
        if saved is None:
            del os.environ["NNC_CHECKED"]
        else:
            os.environ["NNC_CHECKED"] = saved


def cmd_lsp(args) -> int:
    from .lsp import main as serve
    return serve()


def _checked_program(args):
    """(the checked program, EXIT_OK), or (None, the exit status) after printing why: an unreadable file,
    diagnostics, or an --model / --train name the program does not have."""
    from .diagnostics import render_text
    result, err = _check(args.file, False)
    if result is None:
        print(f"nnc: error: {err}", file=sys.stderr)
        return None, EXIT_USAGE
    if result.errors:
        print(render_text(result.diagnostics, result.sources), file=sys.stderr)
        return None, EXIT_ERRORS
    for kind, name, table in (("model", args.model, result.models), ("train block", args.train, result.trains)):
        if name is not None and name not in table:
            print(f"nnc: error: no {kind} `{name}` in {args.file} ({kind}s: {', '.join(table) or 'none'})",
                  file=sys.stderr)
            return None, EXIT_USAGE
    return result, EXIT_OK


def cmd_compile(args) -> int:
    """`nnc compile`: the chosen (or every) model and train block as .onnx files and a README (--target onnx),
    or as a C library with its header and weights (--target llvm)."""
    if args.target == "llvm" and args.explain:
        return _explain_llvm(args)
    if args.explain:
        print("nnc: error: --explain lists the kernels of --target llvm; --target onnx writes .onnx files "
              "(see them with nnc graph)", file=sys.stderr)
        return EXIT_USAGE
    if args.target == "llvm":
        return _compile_llvm(args)
    if args.batch or args.cpu or args.embed_weights or args.checked:
        print("nnc: error: --batch, --cpu, --embed-weights and --checked go with --target llvm", file=sys.stderr)
        return EXIT_USAGE
    result, status = _checked_program(args)
    if result is None:
        return status
    from .backends import BackendUnavailable, resolve
    try:
        resolve("onnx")
    except BackendUnavailable as e:
        print(f"nnc: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    from .backends.onnx.artifacts import compile_onnx
    from .backends.onnx.export import ExportError
    return _print_written(lambda: compile_onnx(result, Path(args.output), args.model, args.train, args.seed,
                                               Path(args.file).name), (BackendUnavailable, ExportError))


def _print_written(write, errors: tuple) -> int:
    """The paths `write()` wrote, one a line; one of `errors` (or an OSError) is one line and exit 2."""
    try:
        written = write()
    except (*errors, OSError) as e:
        print(f"nnc: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK


def _compile_llvm(args) -> int:
    """`nnc compile --target llvm`: libNAME.so, libNAME.a, NAME.h and the weights (docs/embedding.md)."""
    result, status = _checked_program(args)
    if result is None:
        return status
    from .backends import BackendUnavailable
    from .backends.llvm.aot import compile_library
    from .backends.llvm.aot.entry import LibraryError
    name = args.model or args.train or Path(args.file).stem
    return _print_written(lambda: compile_library(result, Path(args.output), name, args.model, args.train, args.seed,
                                                  Path(args.file).name, batch=args.batch, cpu=args.cpu,
                                                  embed_weights=args.embed_weights, checked=args.checked),
                          (BackendUnavailable, LibraryError))


def _explain_llvm(args) -> int:
    """`nnc compile --target llvm --explain`: the kernels of the chosen (or every) model and train step."""
    result, status = _checked_program(args)
    if result is None:
        return status
    models = [args.model] if args.model else ([] if args.train else list(result.models))
    trains = [args.train] if args.train else ([] if args.model else list(result.trains))
    batch = args.batch or 1
    reports = _llvm_reports(lambda r: [r.model_report(result.models[m], batch, args.cpu) for m in models]
                            + [r.train_report(result.trains[t], batch, args.cpu) for t in trains])
    if reports is None:
        return EXIT_USAGE
    from .backends.llvm.report import explain_text
    print("\n\n".join(explain_text(r) for r in reports))
    return EXIT_OK


def cmd_verify(args) -> int:
    """`nnc verify`: the oracle against a backend; exit 0 when everything agrees, 1 when something diverges."""
    from .backends import BackendUnavailable
    result, status = _checked_program(args)
    if result is None:
        return status
    from .train.commands import _backend_ok
    if not _backend_ok(args, sys.stderr):
        return EXIT_USAGE
    from .verify import format_result, verify_program
    try:
        results = verify_program(result, args.backend, args.device, args.model, args.train, args.seed, args.batch,
                                 args.rtol)
    except BackendUnavailable as e:
        print(f"nnc: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps({"file": args.file, "backend": args.backend, "device": args.device,
                          "agrees": all(r.agrees for r in results), "results": [r.json() for r in results]}))
    else:
        for r in results:
            print(format_result(r, args.backend))
    return EXIT_OK if all(r.agrees for r in results) else EXIT_ERRORS


def cmd_graph(args) -> int:
    """`nnc graph`: text to standard output, or -o graph.svg / graph.dot / graph.txt written atomically."""
    from .graph_view import STAGES, render_svg, stage, to_dot, to_text
    from .train.commands import _pick, write_atomically
    result, status = _checked_program(args)
    if result is None:
        return status
    if args.train is not None or (args.model is None and not result.models and result.trains):
        info = _pick("train block", args.train, result.trains, args.file, sys.stderr)
        if info is None:
            return EXIT_USAGE
        from .train.step import build_step
        graph, what = build_step(info).graph, f"train {info.name} (one step)"
    else:
        info = _pick("model", args.model, result.models, args.file, sys.stderr)
        if info is None:
            return EXIT_USAGE
        graph, what = info.graph, f"model {info.name}"
    stages = STAGES if args.stage == "both" else (args.stage,)
    graphs = [(f"{what}: {s}", stage(graph, s)) for s in stages]
    out = args.output
    if out is None:
        sys.stdout.write(to_text(graphs))
        return EXIT_OK
    if out.endswith(".svg"):
        data = render_svg(to_dot(graphs))
        if data is None:
            print("nnc: error: drawing SVG needs Graphviz's `dot` (apt-get install graphviz); "
                  "write graph.dot or a text file instead", file=sys.stderr)
            return EXIT_USAGE
    else:
        data = (to_dot(graphs) if out.endswith(".dot") else to_text(graphs)).encode()
    try:
        write_atomically(Path(out), data)
    except OSError as e:
        print(f"nnc: error: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {out}: {', '.join(f'{t} ({len(g.nodes)} nodes)' for t, g in graphs)}")
    return EXIT_OK


def cmd_explain(args) -> int:
    from .codes import CODES, explain
    text = explain(args.code)
    if text is None:
        print(f"nnc: error: no diagnostic code `{args.code}` (codes: {', '.join(CODES)})", file=sys.stderr)
        return EXIT_USAGE
    print(text, end="")
    return EXIT_OK


def cmd_cache(args) -> int:
    """`nnc cache info` describes the cache (docs/security.md says what nnc checks); `clear` empties it."""
    from . import cache
    if args.action == "info":
        print(cache.describe(cache.info()), end="")
        return EXIT_OK
    path, _ = cache.location()
    try:
        files, size = cache.clear()
    except cache.CacheError as e:
        print(f"nnc: error: {e}", file=sys.stderr)
        return EXIT_ERRORS
    print(f"removed {files} file{'' if files == 1 else 's'} ({size} bytes) from {path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
