"""The C side of a library: the public header NAME.h (the documentation of the ABI) and the glue source
that describes each entry's tensors to the runtime (runtime/, packaged as nnc/runtime) and wraps it in typed functions.

Every function starts with the entry's prefix (the model or train block's name): `lenet5_create`,
`lenet5_forward`, `mnist_step`, ... Status codes are shared by all entries (NNC_OK, NNC_E_...).
"""
from __future__ import annotations

import re

from ...base import Role
from .entry import C_TYPE, DTYPE_BYTES, DTYPE_CODE, ROLE_CODE, Entry, PortInfo

STATUS = [
    ("NNC_OK", 0, "success"),
    ("NNC_E_NULL", 1, "a null pointer where a value is needed"),
    ("NNC_E_BATCH", 2, "a batch size outside 1..the instance's maximum (or not the compiled one)"),
    ("NNC_E_NAME", 3, "no tensor of that name"),
    ("NNC_E_SIZE", 4, "a byte count that is not the tensor's"),
    ("NNC_E_IO", 5, "a file that cannot be opened, read or written"),
    ("NNC_E_FORMAT", 6, "not an nnc weights file (not safetensors, damaged header)"),
    ("NNC_E_TRUNCATED", 7, "a weights file shorter than its header says"),
    ("NNC_E_VERSION", 8, "a weights file of a newer format than this library reads"),
    ("NNC_E_MODEL", 9, "a weights file written for another model (names, dtypes or shapes differ)"),
    ("NNC_E_CHECKSUM", 10, "the tensor data does not match the file's checksum (corrupted)"),
    ("NNC_E_MEMORY", 11, "out of memory"),
    ("NNC_E_CHECK", 12, "a run-time check of the model failed (e.g. an embedding id out of range)"),
    ("NNC_E_NOT_FINITE", 13, "built with --checked: a layer produced a NaN or an infinity"),
    ("NNC_E_LOSS", 14, "a loss is NaN or infinite: the step's update was not committed"),
]
ROLE_DERIVED = 7  # the runtime's NNC_ROLE_DERIVED: held, computed by the prepare entry, never loaded or named
ROLE_TEXT = {Role.PARAM: "parameter", Role.STATE: "state", Role.SLOT: "optimiser slot", Role.STEP: "step counter",
             Role.KEY: "random key"}


def ident(text: str) -> str:
    """A C identifier from a name: letters, digits and underscores, not starting with a digit."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text)
    return s if s and not s[0].isdigit() else "_" + s


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _held(e: Entry) -> list[PortInfo]:
    return e.held


def _macro_names(e: Entry) -> dict[str, str]:
    """A distinct upper-case macro stem per tensor: the name without the prefix it shares with the entry."""
    out, seen = {}, set()
    for p in e.inputs + e.outputs:
        if p.name in out or p.derived:
            continue
        short = p.name[len(e.name) + 1:] if p.name.startswith(e.name + "/") else p.name
        stem = ident(short).upper()
        base = stem
        k = 1
        while stem in seen:
            k += 1
            stem = f"{base}_{k}"
        seen.add(stem)
        out[p.name] = stem
    return out


def memory(e: Entry) -> dict[str, int]:
    """The memory plan at the plan batch; the arena serves the prepare step too (it runs between calls)."""
    held = _held(e)
    updated = {e.inputs[o.replaces].name for o in e.outputs if o.replaces >= 0}
    return {"PARAMS_BYTES": sum(p.numel() * DTYPE_BYTES[p.dtype] for p in held if p.role is Role.PARAM),
            "STATE_BYTES": sum(p.numel() * DTYPE_BYTES[p.dtype] for p in held if p.role is not Role.PARAM),
            "UPDATE_BYTES": sum(p.numel() * DTYPE_BYTES[p.dtype] for p in held if p.name in updated),
            "DERIVED_BYTES": sum(p.numel() * DTYPE_BYTES[p.dtype] for p in e.derived),
            "ACTIVATION_BYTES": max(e.arena_bytes, e.prepare.arena_bytes if e.prepare else 0), "ALIGNMENT": 64}


MEMORY_NOTE = {"ACTIVATION_BYTES": "the arena of intermediates, shared by liveness (and by the prepare step)",
               "UPDATE_BYTES": "the second buffer of each updated tensor",
               "DERIVED_BYTES": "tensors computed from the parameters once per change (not get/set)"}


C_WORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false m batch ins outs""".split())


def arg_names(e: Entry) -> dict[str, str]:
    """The C parameter name of every data input and report: its name as an identifier, never a C keyword,
    `m` or `batch`, never twice."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for p in [p for p in e.inputs if p.role is Role.DATA] + [p for p in e.outputs if p.role is Role.REPORT]:
        name = ident(p.name)
        while name in C_WORDS or name in used:
            name += "_"
        used.add(name)
        out[p.name] = name
    return out


def _signature(e: Entry, t: str) -> tuple[str, str]:
    """(the call's C parameter list, the function name) of forward / step."""
    data = [p for p in e.inputs if p.role is Role.DATA]
    reports = [p for p in e.outputs if p.role is Role.REPORT]
    names = arg_names(e)
    params = [f"{t} *m", "int64_t batch"]
    params += [f"const {C_TYPE[p.dtype]} *{names[p.name]}" for p in data]
    params += [f"{C_TYPE[p.dtype]} *{names[p.name]}" for p in reports]
    return ", ".join(params), f"{e.prefix}_{'step' if e.kind == 'train' else 'forward'}"


def header(name: str, source: str, entries: list[Entry], embedded: bool) -> str:
    guard = f"NNC_{ident(name).upper()}_H"
    out = [f"/* {name}.h: the C interface of lib{name}, written by `nnc compile --target llvm` from {source}.",
           " *",
           " * Each model (and each train block: its training step) has its own prefix and an opaque instance",
           " * type. An instance owns all its memory (parameters, state, optimiser slots, the arena of",
           " * intermediates): two threads may use two instances at the same time; one instance is used by one",
           " * thread at a time. Every function returns a status code (NNC_OK or NNC_E_...); after a failure",
           " * PREFIX_last_error(m) says what went wrong in one line (PREFIX_last_error(NULL): why the calling",
           " * thread's last create failed). Arrays are C-contiguous (row-major), of the dtype named below;",
           " * an axis written B is the batch size chosen per call, at most the instance's maximum.",
           " * Weights: " + ("compiled into the library (--embed-weights); PREFIX_load replaces them." if embedded
                              else "PREFIX.safetensors next to the library; load them with PREFIX_load."),
           " * See docs/embedding.md. */",
           f"#ifndef {guard}", f"#define {guard}", "", "#include <stddef.h>", "#include <stdint.h>", "",
           "#ifdef __cplusplus", 'extern "C" {', "#endif", "", "#ifndef NNC_STATUS_CODES",
           "#define NNC_STATUS_CODES", "enum {"]
    out += [f"    {n} = {v},{' ' * (18 - len(n) - len(str(v)))}/* {text} */" for n, v, text in STATUS]
    out += ["};", "#endif", ""]
    for e in entries:
        out += _entry_header(e)
    out += ["#ifdef __cplusplus", "}", "#endif", "#endif", ""]
    return "\n".join(out)


def _entry_header(e: Entry) -> list[str]:
    P, t = e.prefix.upper(), f"{e.prefix}_t"
    names = _macro_names(e)
    sym = e.symbol or "B"
    what = f"model {e.name}" if e.kind == "model" else f"train {e.name}: one training step"
    out = ["/* " + "-" * 96, f" * {what} (prefix {e.prefix}_)", " */",
           f"typedef struct {e.prefix}_instance {t};", "",
           f"#define {P}_BATCH_SYMBOL {_c_string(e.symbol)}  /* the batch axis of the shapes below */",
           (f"#define {P}_COMPILED_BATCH {e.batch}  /* this build runs exactly this batch size (create with it) */"
            if e.batch else f"#define {P}_COMPILED_BATCH 0  /* any batch size up to the instance's maximum */"),
           "", f"/* the memory plan at batch {e.plan_batch}: bytes an instance allocates (as Glow bundles state them) */",
           f"#define {P}_PLAN_BATCH {e.plan_batch}"]
    for k, v in memory(e).items():
        out.append(f"#define {P}_{k} {v}" + (f"  /* {MEMORY_NOTE[k]} */" if k in MEMORY_NOTE else ""))
    out += ["", "/* inputs fed per call and outputs returned (per-item element counts: multiply by the batch) */"]
    for p in e.inputs + e.outputs:
        if p.role not in (Role.DATA, Role.REPORT):
            continue
        kind = "input" if p.role is Role.DATA else ("output (a loss)" if p.loss else "output")
        n = names[p.name]
        per = p.numel(1) if any(p.batched) else p.numel()
        out += [f"/* {kind} {p.name}: {p.dtype}{p.shape_text(sym)} ({C_TYPE[p.dtype]}) */",
                f"#define {P}_{n}_RANK {len(p.dims)}",
                f"#define {P}_{n}_SHAPE {{{', '.join(map(str, p.dims))}}}"
                + ("  /* 0: the batch */" if any(p.batched) else ""),
                f"#define {P}_{n}_ELEMENTS {per}{'  /* per batch item */' if any(p.batched) else ''}"]
    held = _held(e)
    out += ["", f"/* the {len(held)} tensors an instance holds, by stable name (PREFIX_get / PREFIX_set) */",
            f"#define {P}_TENSORS {len(held)}"]
    if e.prepare is not None:
        d = e.derived
        out += [f"/* Prepare step: {len(d)} more tensors ({P}_DERIVED_BYTES; folded batchnorm filters and biases, ...)",
                " * are computed from the parameters and state alone, once per change, not on every forward: after",
                " * create, PREFIX_load or PREFIX_set, the next PREFIX_forward computes them first (lazily: setting",
                " * many tensors costs one prepare). They have no name here (not get/set, load/save). */"]
    for p in held:
        n = names[p.name]
        out += [f"/* {ROLE_TEXT[p.role]} {p.name}: {p.dtype}{p.shape_text(sym)} */",
                f"#define {P}_{n} {_c_string(p.name)}",
                f"#define {P}_{n}_SHAPE {{{', '.join(map(str, p.dims))}}}",
                f"#define {P}_{n}_BYTES {p.numel() * DTYPE_BYTES[p.dtype]}"]
    params, fn = _signature(e, t)
    call_doc = ("/* The forward pass: outputs for `batch` items. */" if e.kind == "model" else
                "/* One training step on `batch` items: the reports (losses, metrics) are written where the\n"
                " * pointers point (NULL: not returned); the update is committed only when every loss is finite\n"
                " * (else NNC_E_LOSS and the instance is unchanged). */")
    out += ["",
            "/* A new instance for batches of at most max_batch items" + (f" (this build: exactly {e.batch})"
                                                                          if e.batch else "")
            + "; its arena is planned for",
            " * max_batch. Its parameters are zero until PREFIX_load (or the compiled-in weights, when built",
            " * with --embed-weights); the random key is the seed given to nnc compile. */",
            f"int {e.prefix}_create({t} **out, int64_t max_batch);",
            f"void {e.prefix}_destroy({t} *m);",
            "/* The bytes an instance created with this max_batch allocates for its arena of intermediates",
            " * (the prepare step's intermediates included; add the _PARAMS_, _STATE_, _UPDATE_ and _DERIVED_BYTES",
            " * for the whole instance); -1 if max_batch < 1. */",
            f"int64_t {e.prefix}_arena_bytes(int64_t max_batch);",
            "/* create with the caller's memory for the arena (at least PREFIX_arena_bytes(max_batch) bytes,",
            " * 64-byte aligned; it must outlive the instance, and destroy leaves it to the caller). */",
            f"int {e.prefix}_create_in({t} **out, int64_t max_batch, void *arena, size_t arena_bytes);",
            call_doc, f"int {fn}({params});",
            "/* Copy a held tensor out / in by its stable name; nbytes must be its size (the _BYTES macros)."
            + ("\n * A set marks the derived tensors stale: the next forward recomputes them. */" if e.prepare
               else " */"),
            f"int {e.prefix}_get({t} *m, const char *name, void *dst, size_t nbytes);",
            f"int {e.prefix}_set({t} *m, const char *name, const void *src, size_t nbytes);",
            "/* Weights" + (" and the training state (parameters, optimiser slots, step counter, key)"
                             if e.kind == "train" else "") + " from / to a safetensors file",
            " * (nnc's checkpoint format, with a CRC-32): load checks everything before it changes anything. */",
            f"int {e.prefix}_load({t} *m, const char *path);",
            f"int {e.prefix}_save({t} *m, const char *path);",
            f"const char *{e.prefix}_last_error(const {t} *m);", ""]
    return out


def glue(entries: list[Entry], embedded: dict[str, str]) -> str:
    """The C source describing each entry to the runtime; `embedded`: prefix -> weights file to .incbin."""
    out = ['#include "nnc_runtime.h"', "", '#define API __attribute__((visibility("default")))', ""]
    for e in entries:
        out += _entry_glue(e, embedded.get(e.prefix))
    return "\n".join(out) + "\n"


def _ports(e: Entry, ports: list[PortInfo], which: str) -> list[str]:
    out = []
    for k, p in enumerate(ports):
        dims = ", ".join(str(d) for d in p.dims) or "0"
        batched = ", ".join(str(int(b)) for b in p.batched) or "0"
        out += [f"static const int64_t {which}_dims_{k}[] = {{{dims}}};",
                f"static const unsigned char {which}_batched_{k}[] = {{{batched}}};"]
    rows = [f"    {{{_c_string(p.name)}, {ROLE_DERIVED if p.derived else ROLE_CODE[p.role]}, {DTYPE_CODE[p.dtype]}, "
            f"{len(p.dims)}, {which}_dims_{k}, {which}_batched_{k}, {p.replaces}, {int(p.loss)}}},"
            for k, p in enumerate(ports)]
    out += [f"static const nnc_port {which}[] = {{"] + (rows or ["    {0},"]) + ["};"]
    return out


def _entry_struct(e: Entry, weights: str | None) -> list[str]:
    """The static nnc_entry `<prefix>_entry` describing `e` (and its prepare entry first, when it has one)."""
    pre = e.prefix
    out = [f"void {e.run_symbol}(void **args);"]
    if e.prepare is not None:
        out += _entry_struct(e.prepare, None)
        p = e.prepare.prefix
        out += [f"static const int {p}_from[] = {{{', '.join(map(str, e.prepare_in)) or '0'}}};",
                f"static const int {p}_to[] = {{{', '.join(map(str, e.prepare_out)) or '0'}}};"]
    out += _ports(e, e.inputs, f"{pre}_in") + _ports(e, e.outputs, f"{pre}_out")
    msgs = [_c_string(m) for m in e.messages] or ['""']
    out += [f"static const char *const {pre}_messages[] = {{{', '.join(msgs)}}};"]
    if weights:
        sym = f"nnc_{pre}_weights"
        path = weights.replace("\\", "\\\\").replace('"', '\\"')
        out += [f'__asm__(".section .rodata\\n.balign 64\\n.hidden {sym}\\n.hidden {sym}_end\\n{sym}:\\n'
                f'.incbin \\"{path}\\"\\n{sym}_end:\\n.previous\\n");',
                f'extern const unsigned char {sym}[] __attribute__((visibility("hidden")));',
                f'extern const unsigned char {sym}_end[] __attribute__((visibility("hidden")));']
    rows = [f"    {{{f}, {l}, {{{', '.join(str(c) for c in cs)}}}}}," for f, l, cs in e.scratch] or ["    {0},"]
    out += [f"static const nnc_scratch {pre}_scratch[] = {{"] + rows + ["};"]
    prep = (f"&{e.prepare.prefix}_entry, {e.prepare.prefix}_from, {e.prepare.prefix}_to" if e.prepare
            else "NULL, NULL, NULL")
    out += [f"static const nnc_entry {pre}_entry = {{",
            f"    {_c_string(pre)}, {_c_string(e.kind)}, {_c_string(e.name)}, {_c_string(e.symbol)}, \"\",",
            f"    {len(e.inputs)}, {len(e.outputs)}, {pre}_in, {pre}_out, {e.run_symbol},",
            f"    {e.batch}, {e.arena_bytes}, {len(e.scratch)}, {pre}_scratch,",
            f"    {len(e.messages)}, {e.n_checks}, {pre}_messages, {e.n_kernels},",
            f"    {f'nnc_{pre}_weights, nnc_{pre}_weights_end' if weights else 'NULL, NULL'}, {e.seed},",
            f"    {prep}", "};", ""]
    return out


def _entry_glue(e: Entry, weights: str | None) -> list[str]:
    t, pre = f"{e.prefix}_t", e.prefix
    out = [f"/* ---- {e.kind} {e.name} */"] + _entry_struct(e, weights)
    data = [p for p in e.inputs if p.role is Role.DATA]
    reports = [p for p in e.outputs if p.role is Role.REPORT]
    params, fn = _signature(e, t)
    names = arg_names(e)
    out += [f"typedef struct {pre}_instance {t};",
            f"API int {pre}_create({t} **out, int64_t max_batch) {{"]
    out += [f"    return nnc_create(&{pre}_entry, max_batch, (nnc_instance **)out);", "}",
            f"API int {pre}_create_in({t} **out, int64_t max_batch, void *arena, size_t arena_bytes) {{",
            f"    if (arena == NULL) return nnc_fail(NULL, NNC_E_NULL, \"{pre}_create_in: the arena is NULL\");",
            f"    return nnc_create_in(&{pre}_entry, max_batch, arena, arena_bytes, (nnc_instance **)out);", "}"]
    null = f'if (m == NULL) return nnc_fail(NULL, NNC_E_NULL, "{pre}_%s: the instance is NULL", __func__ + {len(pre) + 1});'
    out += [f"API void {pre}_destroy({t} *m) {{ nnc_destroy((nnc_instance *)m); }}",
            f"API int64_t {pre}_arena_bytes(int64_t max_batch) {{ return nnc_arena_bytes(&{pre}_entry, max_batch); }}",
            f"API int {fn}({params}) {{", f"    {null}",
            f"    const void *ins[] = {{{', '.join(names[p.name] for p in data) or 'NULL'}}};",
            f"    void *outs[] = {{{', '.join(names[p.name] for p in reports) or 'NULL'}}};",
            "    return nnc_call((nnc_instance *)m, batch, ins, outs);", "}",
            f"API int {pre}_get({t} *m, const char *name, void *dst, size_t nbytes) {{", f"    {null}",
            "    return nnc_get((nnc_instance *)m, name, dst, nbytes);", "}",
            f"API int {pre}_set({t} *m, const char *name, const void *src, size_t nbytes) {{", f"    {null}",
            "    return nnc_set((nnc_instance *)m, name, src, nbytes);", "}",
            f"API int {pre}_load({t} *m, const char *path) {{", f"    {null}",
            "    return nnc_load((nnc_instance *)m, path);", "}",
            f"API int {pre}_save({t} *m, const char *path) {{", f"    {null}",
            "    return nnc_save((nnc_instance *)m, path);", "}",
            f"API const char *{pre}_last_error(const {t} *m) {{ return nnc_last_error((const nnc_instance *)m); }}",
            ""]
    return out
