"""Position-independent objects for the C library, and the system C compiler that links them.

The optimisation pipeline is `target.compile_object`'s (the same passes, the same tuning), so the code
computes what the in-process code computes, bit for bit; only the relocation model and code model differ
(`reloc="pic", codemodel="default"`: backends.md §3, an object made for the JIT links only with text
relocations). Objects are cached on disk like the in-process ones, under their own namespace.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import llvmlite.binding as llvm

from .. import target as T
from .entry import LibraryError

NAMESPACE = "llvm-pic"


def pic_machine(h: T.Host, opt: int = 3) -> "llvm.TargetMachine":
    T.init()
    target = llvm.Target.from_triple(h.triple)
    return target.create_target_machine(cpu=h.cpu, features=h.features, opt=opt, reloc="pic",
                                        codemodel="default")


def pic_object(ir_text: str, h: T.Host, opt: int = 3, use_cache: bool = True) -> bytes:
    """The object code of `ir_text` for linking into a shared library (cached on disk)."""
    from .... import cache
    key = T.cache_key(ir_text, h, opt)
    if use_cache:
        hit = cache.get(NAMESPACE, key)
        if hit is not None:
            return hit
    tm = pic_machine(h, opt)
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    tuning = llvm.create_pipeline_tuning_options(speed_level=opt)
    tuning.loop_unrolling = False  # as target.compile_object: the same passes make the same code
    pb = llvm.create_pass_builder(tm, tuning)
    pb.getModulePassManager().run(mod, pb)
    obj = tm.emit_object(mod)
    if use_cache:
        cache.put(NAMESPACE, key, obj)
    return obj


def c_compiler() -> str:
    """$CC, else cc, gcc or clang from PATH; a LibraryError saying what to install when there is none."""
    wanted = os.environ.get("CC")
    for name in ([wanted] if wanted else []) + ["cc", "gcc", "clang"]:
        found = shutil.which(name)
        if found:
            return found
    raise LibraryError("no C compiler found (looked for $CC, cc, gcc, clang): nnc compile --target llvm links "
                       "the library with the system's C compiler; install gcc or clang (e.g. apt install gcc), "
                       "or set CC")


def run_cc(args: list[str], what: str) -> None:
    """Run the C compiler; its own message, shortened, when it fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    except OSError as e:
        raise LibraryError(f"{what}: cannot run {args[0]}: {e}") from None
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip().splitlines()
        raise LibraryError(f"{what} failed ({Path(args[0]).name} exit {done.returncode}): "
                           + " | ".join(text[:6]))


def build(cc: str, sources: list[Path], objects: list[Path], include: list[Path], so: Path, archive: Path,
          work: Path, exported: list[str]) -> None:
    """libNAME.so (linked with -shared, only libc/libm/pthread needed; it exports the functions of the
    `exported` prefixes only) and libNAME.a (every object)."""
    flags = ["-O2", "-fPIC", "-std=c11", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"]
    incs = [f"-I{d}" for d in include]
    built = []
    for src in sources:
        obj = work / (src.stem + ".o")
        run_cc([cc, *flags, *incs, "-c", str(src), "-o", str(obj)], f"compiling {src.name}")
        built.append(obj)
    script = work / "exports.map"
    script.write_text("{\n  global:\n" + "".join(f"    {p}_*;\n" for p in exported) + "  local: *;\n};\n")
    run_cc([cc, "-shared", "-o", str(so), *map(str, built), *map(str, objects), "-lm", "-pthread",
            "-Wl,--no-undefined", "-Wl,-z,noexecstack", f"-Wl,--version-script={script}"], f"linking {so.name}")
    ar = shutil.which("ar") or shutil.which("gcc-ar")
    if ar is None:
        raise LibraryError("no `ar` found to write the static library (install binutils)")
    if archive.exists():
        archive.unlink()
    run_cc([ar, "rcs", str(archive), *map(str, built), *map(str, objects)], f"archiving {archive.name}")
