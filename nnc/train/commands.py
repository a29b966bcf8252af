"""`nnc train` and `nnc run`: what the command lines do, as library functions returning exit statuses."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _load(path: str, err):
    from ..compiler import check_file
    from ..diagnostics import render_text
    from ..elaborate import UnreadableFile
    try:
        result = check_file(Path(path))
    except UnreadableFile as e:
        print(f"nnc: error: {e}", file=err)
        return None, EXIT_USAGE
    if result.errors:
        print(render_text(result.diagnostics, result.sources), file=err)
        return None, EXIT_ERRORS
    return result, EXIT_OK


def _pick(kind: str, wanted: str | None, available: dict, path: str, err):
    if wanted is not None:
        if wanted not in available:
            print(f"nnc: error: no {kind} `{wanted}` in {path} ({kind}s: {', '.join(available) or 'none'})", file=err)
            return None
        return available[wanted]
    if len(available) == 1:
        return next(iter(available.values()))
    if not available:
        print(f"nnc: error: {path} has no {kind}", file=err)
    else:
        flag = "--train" if kind == "train block" else "--model"
        print(f"nnc: error: {path} has several {kind}s ({', '.join(available)}); choose one with {flag}", file=err)
    return None


def train_command(args, out=None, err=None, distributed=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from .launch import distributed_train, wanted
    if distributed is None and wanted(args):  # --workers N, or started by mpiexec/srun: nnc/train/launch.py
        return distributed_train(args, out, err)
    from .checkpoint import CheckpointError
    from .data import DataError
    from .loop import Settings, TrainingStopped, train
    if not _backend_ok(args, err):
        return EXIT_USAGE
    result, status = _load(args.file, err)
    if result is None:
        return status
    info = _pick("train block", args.train, result.trains, args.file, err)
    if info is None:
        return EXIT_USAGE
    settings = Settings(data=args.data, epochs=args.epochs, batch=args.batch, seed=args.seed,
                        val_fraction=args.val, checkpoint=Path(args.checkpoint) if args.checkpoint else None,
                        resume=args.resume, patience=args.patience, plot=Path(args.plot) if args.plot else None,
                        json_lines=args.format == "json", base_dir=Path(args.file).resolve().parent,
                        backend=args.backend, device=args.device, distributed=distributed,
                        init_from=Path(args.init_from) if args.init_from else None)
    if args.init_from and args.resume:
        print("nnc: error: --init-from starts a new run from other weights and --resume continues this one; "
              "give one of them", file=err)
        return EXIT_USAGE
    text = Path(args.file).read_text(errors="replace")
    from ..backends import BackendUnavailable
    from ..ops.lr_schedule import NeedsEpochLength
    try:
        train(info, settings, out, err, program_text=text)
    except (DataError, BackendUnavailable, NeedsEpochLength) as e:  # an op the backend cannot lower yet;
        print(f"nnc: error: {e}", file=err)  # per="epoch" where the epoch length is not passed on (--workers)
        return EXIT_USAGE
    except (TrainingStopped, CheckpointError) as e:
        print(f"nnc: error: {e}", file=err)
        return EXIT_ERRORS
    return EXIT_OK


def _backend_ok(args, err) -> bool:
    """The chosen backend can run on the chosen device here (`auto` becomes the device picked, with a note
    when cuda was passed over); else one line saying why."""
    from ..backends import BackendUnavailable, pick_device
    try:
        args.device, note = pick_device(args.backend, args.device)
    except BackendUnavailable as e:
        print(f"nnc: error: {e}", file=err)
        return False
    if note:
        print(f"nnc: note: {note}", file=err)
    return True


def run_command(args, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from ..api import Model
    from ..interp import RunError
    from .checkpoint import CheckpointError, load_checkpoint
    if not _backend_ok(args, err):
        return EXIT_USAGE
    result, status = _load(args.file, err)
    if result is None:
        return status
    info = _pick("model", args.model, result.models, args.file, err)
    if info is None:
        return EXIT_USAGE
    from ..backends import BackendUnavailable
    try:
        model = Model(info.graph, seed=args.seed, backend=args.backend, device=args.device)
    except BackendUnavailable as e:  # an op the backend cannot lower yet: one line, not a traceback
        print(f"nnc: error: {e}", file=err)
        return EXIT_USAGE
    if args.weights:
        try:
            ckpt = load_checkpoint(Path(args.weights))
        except CheckpointError as e:
            print(f"nnc: error: {e}", file=err)
            return EXIT_USAGE
        missing = [n for n in list(model.params) + list(model.state) if n not in ckpt.params and n not in ckpt.state]
        if missing:
            print(f"nnc: error: {args.weights} has no values for {', '.join(missing[:5])}"
                  + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""), file=err)
            return EXIT_USAGE
        try:
            model.params.update({name: ckpt.params[name] for name in model.params})
            model.state.update({name: ckpt.state[name] for name in model.state})
        except ValueError as e:
            print(f"nnc: error: {args.weights} does not fit {info.graph.name}: {e}", file=err)
            return EXIT_USAGE
    feeds = {}
    for item in args.input or []:
        name, sep, file = item.partition("=")
        if not sep:
            print(f"nnc: error: --input takes NAME=file.npy, found {item!r}", file=err)
            return EXIT_USAGE
        try:
            feeds[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as e:
            print(f"nnc: error: cannot read {file}: {e}", file=err)
            return EXIT_USAGE
    from .token_ids import embedding_vocabularies, token_id_problem
    problem = token_id_problem(feeds, embedding_vocabularies(info.graph), lambda name: f"input {name}")
    if problem:
        print(f"nnc: error: {problem}", file=err)
        return EXIT_USAGE
    try:
        if args.mc_samples:
            if not model.stochastic:
                print(f"nnc: warning: model {info.graph.name} has no dropout, so the {args.mc_samples} Monte-Carlo "
                      "samples are all equal and every *_std is 0", file=err)
                model._mc_warned = True  # said here, in the CLI's words
            samples = [model(mc_dropout=True, **feeds) for _ in range(args.mc_samples)]
            names = model.outputs
            stacked = {n: np.stack([s if len(names) == 1 else s[n] for s in samples]) for n in names}
            results = {}
            for n, v in stacked.items():
                results[f"{n}_mean"] = v.mean(axis=0)
                results[f"{n}_std"] = v.std(axis=0)
        else:
            y = model(**feeds)
            results = {model.outputs[0]: y} if len(model.outputs) == 1 else dict(y)
    except RunError as e:
        print(f"nnc: error: {e}", file=err)
        return EXIT_USAGE
    if args.output:
        _save_npz(Path(args.output), results)
        print(f"wrote {', '.join(results)} to {args.output}", file=out)
    else:
        for name, value in results.items():
            print(f"{name}: shape {list(value.shape)}\n{np.array2string(value, precision=4, threshold=50)}", file=out)
    return EXIT_OK


def _save_npz(path: Path, arrays: dict) -> None:
    """Written to a temporary file and renamed, so an existing output is never left half-written."""
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def write_atomically(path: Path, data: bytes) -> None:
    """`data` to a temporary file beside `path`, fsync'd, then renamed over it: never half-written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
