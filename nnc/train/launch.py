"""`nnc train --workers N`: start the MPI job on this machine, or join the world mpiexec/srun started.

Launched by a user as `nnc train FILE --workers N`, nnc runs

    mpiexec -n N python -m mpi4py -m nnc train FILE ... (the same options)

with the BLAS/OpenMP threads of every worker fixed (--threads, default 1:
the thread count can change a matrix product's bits). `python -m mpi4py`
makes an exception on any rank abort the whole job instead of leaving the
others waiting in a collective. Launched by `mpiexec -n N nnc train FILE`
or `srun`, nnc finds itself in an MPI world (the launcher's environment
variables) and trains as one of its ranks; an unexpected exception there
aborts the job too.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
WORLD_ENV = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
THREADS_RECORD = "NNC_WORKER_THREADS"  # set by the launcher: the thread count every worker runs with


def in_mpi_world() -> bool:
    """True when this process was started by mpiexec, mpirun or srun (their environment says so)."""
    return any(name in os.environ for name in WORLD_ENV)


def wanted(args) -> bool:
    """Whether this `nnc train` runs data-parallel: --workers or --virtual-shards given, or inside an MPI world."""
    return bool(getattr(args, "workers", None) or getattr(args, "virtual_shards", None)) or in_mpi_world()


def distributed_train(args, out=None, err=None) -> int:
    """`nnc train` with workers: launch the job here, or be one of its ranks."""
    out, err = out or sys.stdout, err or sys.stderr
    problem = _usage_problem(args)
    if problem:
        print(f"nnc: error: {problem}", file=err)
        return EXIT_USAGE
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        print("nnc: error: --workers needs mpi4py and an MPI: pip install 'nnc[distributed]' "
              "(mpi4py and the mpich wheel)", file=err)
        return EXIT_USAGE
    if in_mpi_world():
        return _worker(args, out, err)
    return _launch(args, out, err)


def _usage_problem(args) -> str | None:
    workers, shards = getattr(args, "workers", None), getattr(args, "virtual_shards", None)
    if workers is not None and shards is not None and shards % workers:
        return f"--virtual-shards {shards} is not a multiple of --workers {workers} (every worker takes V/N shards)"
    if getattr(args, "step_timeout", None) is not None and args.step_timeout <= 0:
        return "--step-timeout takes a positive number of seconds"
    return None


def mpiexec() -> str | None:
    """The mpiexec next to this Python (the mpich wheel's), else the one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _launch(args, out, err) -> int:
    launcher = mpiexec()
    if launcher is None:
        print("nnc: error: --workers needs mpiexec, which is not installed: pip install 'nnc[distributed]' "
              "(the mpich wheel brings one), or launch the ranks yourself with your site's mpiexec or srun", file=err)
        return EXIT_USAGE
    workers = args.workers or 1
    threads = args.threads or 1
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_ENV})
    env[THREADS_RECORD] = str(threads)
    cmd = [launcher, "-n", str(workers), sys.executable, "-m", "mpi4py", "-m", "nnc", "train",
           *train_argv(args)]
    real = out is sys.stdout and err is sys.stderr
    try:
        if real:
            return subprocess.run(cmd, env=env).returncode
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except OSError as e:
        print(f"nnc: error: cannot start {launcher}: {e}", file=err)
        return EXIT_USAGE
    out.write(done.stdout)
    err.write(done.stderr)
    return done.returncode


def train_argv(args) -> list[str]:
    """The `nnc train` options of `args` as a command line (every option the parser knows, files absolute)."""
    from ..cli import _parser
    parser = _parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    train = sub.choices["train"]
    argv: list[str] = []
    for action in train._actions:
        if not action.option_strings:
            if action.dest == "file":
                argv.insert(0, str(Path(args.file).resolve()))
            continue
        value = getattr(args, action.dest, None)
        if action.dest == "help" or value is None or value == action.default:
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        if action.nargs == 0:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            if action.dest in ("checkpoint", "plot", "data") and os.path.exists(str(value)):
                value = str(Path(str(value)).resolve())
            argv += [flag, str(value)]
    return argv


def _worker(args, out, err) -> int:
    """One rank: train, rank 0 printing; any unexpected failure aborts the whole job with the rank named."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if args.workers is not None and args.workers != size:
        if rank == 0:
            print(f"nnc: error: --workers {args.workers} but the MPI world has {size} ranks; drop --workers "
                  f"when launching with mpiexec or srun", file=err)
        return EXIT_USAGE
    shards = args.virtual_shards or size
    if shards % size:
        if rank == 0:
            print(f"nnc: error: --virtual-shards {shards} is not a multiple of the {size} ranks", file=err)
        return EXIT_USAGE
    if rank != 0:
        out = io.StringIO()
    try:
        from .commands import train_command
        from .distributed import Options
        threads = os.environ.get(THREADS_RECORD) or os.environ.get("OMP_NUM_THREADS")
        options = Options(comm, shards, args.reduction, int(threads) if threads and threads.isdigit() else None,
                          args.check_every or 0, args.step_timeout)
        status = train_command(args, out, err if rank == 0 else _Quiet(err), distributed=options)
    except SystemExit:
        raise
    except BaseException:
        err.write(f"nnc: error: rank {rank} failed:\n{traceback.format_exc()}")
        err.flush()
        comm.Abort(1)
        return EXIT_ERRORS
    if status and rank:  # every rank stops on the same error; rank 0 says why before any exit aborts the job
        time.sleep(1.0)
    return status


class _Quiet(io.TextIOBase):
    """Rank > 0's standard error inside the training loop: errors every rank would print are left to rank 0."""

    def __init__(self, real):
        self.real = real

    def write(self, text: str) -> int:
        return len(text)

    def isatty(self) -> bool:
        return False
