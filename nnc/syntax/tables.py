"""Lark's LALR tables as JSON: what nnc caches in place of Lark's own cache, which is a pickle.

Building the tables from the grammar takes about 0.13 s, a good part of `nnc check`'s budget, so they are
cached (nnc/cache.py). Lark's `cache=` option and `Lark.save` write a pickle, and unpickling runs code
named by the file; these tables are the same data Lark pickles (`memo_serialize`: dicts, lists, strings,
numbers), written as JSON, so reading a cache entry can only ever produce data. Two details JSON lacks
are kept by tagging: dicts with integer keys (`{"__i__": [[k, v], ...]}`) and tuples (`{"__t__": [...]}`).
"""
from __future__ import annotations

import json

from lark import Lark
from lark.lark import _LOAD_ALLOWED_OPTIONS, Rule, TerminalDef

FORMAT = 1  # bump when the encoding below changes


class TablesError(Exception):
    """The tables cannot be written as JSON (a Lark whose data holds something unexpected)."""


def dump(lark: Lark) -> bytes:
    """The parser's tables and options as JSON bytes; runtime-only options (postlex, transformer) are left
    out and given again to load()."""
    data, memo = lark.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in _LOAD_ALLOWED_OPTIONS}
    return json.dumps(_encode({"data": data, "memo": memo}), separators=(",", ":")).encode()


def load(blob: bytes, **runtime) -> Lark:
    """The parser back from dump()'s bytes, with the runtime options (postlex=..., transformer=...).
    Raises ValueError, KeyError, TypeError, ... on bytes that are not such tables: callers rebuild then."""
    tables = json.loads(blob, object_hook=_decode)
    if not isinstance(tables, dict) or set(tables) != {"data", "memo"}:
        raise ValueError("not a parser table")
    return Lark._load_from_dict(tables["data"], tables["memo"], **runtime)  # what Lark's cache= does, unpickled


def _encode(x):
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x):
            if "__i__" in x or "__t__" in x:
                raise TablesError("a key collides with the JSON tags")
            return {k: _encode(v) for k, v in x.items()}
        if not all(isinstance(k, int) for k in x):
            raise TablesError("a dict whose keys are neither all strings nor all integers")
        return {"__i__": [[k, _encode(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"__t__": [_encode(v) for v in x]}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TablesError(f"a value of type {type(x).__name__} in the tables")


def _decode(d: dict):
    if len(d) == 1:
        if "__i__" in d:
            return {k: v for k, v in d["__i__"]}
        if "__t__" in d:
            return tuple(d["__t__"])
    return d
