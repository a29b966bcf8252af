"""nnc/cache.py and the parser tables cached through it (issue 14): nothing nnc loads from a cache or a
shared folder can run code it did not write.

Planted pickles would create a marker file when unpickled: the marker must never appear. Entries that
are corrupt, truncated, from another version, foreign-owned or writable by others are ignored with one
line on stderr and rebuilt; concurrent writers never let a reader see half an entry.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nnc import __version__, cache
from nnc.cli import main
from nnc.source import SourceFile
from nnc.syntax import parser as syntax_parser
from nnc.syntax import tables

ROOT = Path(__file__).resolve().parents[1]
RESNET = ROOT / "examples" / "resnet50.nn"
NOBODY = 65534
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                             reason="giving a directory to another user needs root")


class Plant:
    """Unpickling this opens (creates) the marker file: stands for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (io.open, (self.marker, "w"))


def planted_pickle(marker: Path) -> bytes:
    """A file in Lark's cache format (a line, then pickles): Lark unpickles it before comparing hashes."""
    return b"0" * 64 + b"\n" + pickle.dumps(Plant(marker)) + pickle.dumps(Plant(marker))


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A private cache in tmp_path/cache, no remembered warnings, and the parser built again on next use."""
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "cache"))
    cache._warned.clear()
    syntax_parser._parser.cache_clear()
    syntax_parser._fast_parser.cache_clear()
    yield tmp_path / "cache"
    cache._warned.clear()
    syntax_parser._parser.cache_clear()
    syntax_parser._fast_parser.cache_clear()


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NNC_CACHE_DIR", "XDG_CACHE_HOME")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), TMPDIR=str(tmp_path / "tmp"), PYTHONPATH=str(ROOT))
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(extra)
    return env


def nnc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnc", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def entry_path(root: Path, namespace: str, key: str) -> Path:
    return root / namespace / cache.entry_name(namespace, key)


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


# ---- the cache module -----------------------------------------------------------------------------------------

def test_round_trip_in_a_private_directory(fresh):
    assert cache.get("llvm", "k") is None  # nothing there yet, and nothing created by a read
    assert not fresh.exists()
    assert cache.put("llvm", "k", b"\x00object code\xff" * 1000)
    assert cache.get("llvm", "k") == b"\x00object code\xff" * 1000
    assert cache.get("llvm", "other key") is None
    assert cache.get("parser", "k") is None  # namespaces are separate
    for d in (fresh, fresh / "llvm"):
        assert os.stat(d).st_mode & 0o777 == 0o700
    (entry,) = (fresh / "llvm").iterdir()
    assert os.stat(entry).st_mode & 0o777 == 0o600
    assert cache.put("llvm", "k", b"new")  # replaced in place
    assert cache.get("llvm", "k") == b"new"
    assert [p.name for p in (fresh / "llvm").iterdir()] == [entry.name]  # no temporary files left over


def test_keys_include_the_version_and_parts_are_unambiguous():
    assert cache.make_key("ab", "c") != cache.make_key("a", "bc")
    assert cache.make_key("a", b"b") == cache.make_key(b"a", "b")
    assert cache.entry_name("llvm", "k") != cache.entry_name("llvm", "k", version="0.0.1")
    assert cache.entry_name("llvm", "k") != cache.entry_name("onnx", "k")


@pytest.mark.parametrize("bad", ["", "../x", "Parser", "a/b", ".", "x" * 65])
def test_a_namespace_is_a_plain_name(fresh, bad):
    with pytest.raises(ValueError, match="namespace"):
        cache.get(bad, "k")
    with pytest.raises(ValueError, match="namespace"):
        cache.put(bad, "k", b"")


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NNC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.location() == (tmp_path / ".cache" / "nnc", "~/.cache")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec: ignore a relative value
    assert cache.location()[0] == tmp_path / ".cache" / "nnc"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.location() == (tmp_path / "xdg" / "nnc", "XDG_CACHE_HOME")
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.location() == (tmp_path / "mine", "NNC_CACHE_DIR")


def test_no_cache_and_no_complaint_where_no_directory_can_be_made(monkeypatch, tmp_path, capsys):
    (tmp_path / "file").write_text("in the way")
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "file" / "nnc"))
    cache._warned.clear()
    assert not cache.put("llvm", "k", b"x")
    assert cache.get("llvm", "k") is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("mode, why", [(0o777, "writable by its group and everyone"), (0o720, "writable by its group"),
                                       (0o702, "writable by everyone")])
def test_a_directory_others_can_write_is_not_used(fresh, capsys, mode, why):
    assert cache.put("llvm", "k", b"x")
    os.chmod(fresh, mode)
    assert cache.get("llvm", "k") is None
    assert not cache.put("llvm", "k2", b"y")
    assert cache.get("llvm", "k") is None
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and why in lines[0] and str(fresh) in lines[0], lines


def test_a_namespace_others_can_write_is_not_used(fresh, capsys):
    assert cache.put("llvm", "k", b"x")
    os.chmod(fresh / "llvm", 0o777)
    assert cache.get("llvm", "k") is None
    (line,) = stderr_lines(capsys)
    assert "'llvm' cache" in line and "writable by its group and everyone" in line


@as_root
def test_a_directory_of_another_user_is_not_used(fresh, capsys):
    assert cache.put("llvm", "k", b"x")
    os.chown(fresh, NOBODY, -1)
    assert cache.get("llvm", "k") is None
    (line,) = stderr_lines(capsys)
    assert f"belongs to uid {NOBODY}" in line


def _rewrite(path: Path, change) -> None:
    data = path.read_bytes()
    path.write_bytes(change(data))


BAD_ENTRIES = {
    "wrong hash": (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "does not match its SHA-256"),
    "truncated": (lambda d: d[: len(d) // 2], "truncated"),
    "padded": (lambda d: d + b"more", "truncated or padded"),
    "older version": (lambda d: d.replace(f"\n{__version__}\n".encode(), b"\n0.0.1\n", 1), "written by nnc 0.0.1"),
    "another key": (lambda d: d.replace(d.split(b"\n")[2], b"f" * 64, 1), "another key"),
    "not an entry": (lambda d: b"garbage", "not an nnc cache entry"),
    "empty": (lambda d: b"", "not an nnc cache entry"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ENTRIES))
def test_a_bad_entry_is_ignored_deleted_and_rebuilt(fresh, capsys, kind):
    change, why = BAD_ENTRIES[kind]
    payload = os.urandom(5000)
    assert cache.put("llvm", "k", payload)
    path = entry_path(fresh, "llvm", "k")
    _rewrite(path, change)
    assert cache.get("llvm", "k") is None
    (line,) = stderr_lines(capsys)
    assert why in line and "llvm/" in line and "rebuilding" in line, line
    assert not path.exists()
    assert cache.put("llvm", "k", payload)
    assert cache.get("llvm", "k") == payload
    assert stderr_lines(capsys) == []


@pytest.mark.parametrize("spoil, why", [
    (lambda p: os.chmod(p, 0o664), "writable by its group"),
    (lambda p: os.chmod(p, 0o646), "writable by everyone"),
    (lambda p: (p.rename(p.with_name("real")), p.symlink_to(p.with_name("real"))), "symbolic link"),
    (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
])
def test_an_entry_others_could_have_written_is_not_used(fresh, capsys, spoil, why):
    assert cache.put("llvm", "k", b"x")
    spoil(entry_path(fresh, "llvm", "k"))
    assert cache.get("llvm", "k") is None
    (line,) = stderr_lines(capsys)
    assert why in line, line
    assert cache.put("llvm", "k", b"x") and cache.get("llvm", "k") == b"x"


@as_root
def test_an_entry_of_another_user_is_not_used(fresh, capsys):
    assert cache.put("llvm", "k", b"x")
    path = entry_path(fresh, "llvm", "k")
    os.chown(path, NOBODY, -1)
    assert cache.get("llvm", "k") is None
    (line,) = stderr_lines(capsys)
    assert f"belongs to uid {NOBODY}" in line
    assert cache.put("llvm", "k", b"x") and cache.get("llvm", "k") == b"x"


# ---- concurrent writers ---------------------------------------------------------------------------------------

WRITER = """
import sys
from nnc import cache
fill, rounds = sys.argv[1].encode(), int(sys.argv[2])
for i in range(rounds):
    assert cache.put("llvm", "same key", fill * (3 << 20))
"""

READER = """
import sys, time
from nnc import cache
deadline, seen = time.time() + float(sys.argv[1]), set()
while time.time() < deadline:
    data = cache.get("llvm", "same key")
    if data is not None:
        assert len(data) == 3 << 20 and data == data[:1] * len(data), "a half-written or mixed entry"
        seen.add(data[:1])
print("".join(sorted(x.decode() for x in seen)))
"""


def test_concurrent_writers_never_show_a_reader_half_an_entry(fresh):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = lambda code, *args: subprocess.Popen([sys.executable, "-c", code, *args], env=env,  # noqa: E731
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readers = [run(READER, "6") for _ in range(2)]
    writers = [run(WRITER, fill, "12") for fill in "ab"]
    for p in writers:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and err == "", err
    for p in readers:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and err == "", err
        assert out.strip() in ("a", "b", "ab")  # it read whole entries, and did read some
    assert cache.get("llvm", "same key") in (b"a" * (3 << 20), b"b" * (3 << 20))
    assert sorted(p.name for p in (fresh / "llvm").iterdir()) == [cache.entry_name("llvm", "same key")]


def test_two_checks_at_once_on_an_empty_cache(tmp_path):
    env = env_for(tmp_path, NNC_CACHE_DIR=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-m", "nnc", "check", str(RESNET)], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and err == "", err
    again = nnc(env, "check", str(RESNET))
    assert again.returncode == 0 and again.stderr == ""
    assert len(list((tmp_path / "cache" / "parser").iterdir())) == 1


# ---- the parser tables ----------------------------------------------------------------------------------------

PROGRAMS = sorted((ROOT / "examples").glob("*.nn"))
BROKEN = SourceFile("broken.nn", "model m {\n  input x: f32[N, 4]\n  output y = x -> dense(3\n}\n")


def parse_all(fast: bool):
    out = [syntax_parser._parse_text(SourceFile(p.name, p.read_text()), fast=fast) for p in PROGRAMS]
    return out + [syntax_parser._parse_text(BROKEN, fast=fast)]


def test_tables_from_the_cache_parse_exactly_like_built_ones(fresh, capsys):
    built = parse_all(fast=True), parse_all(fast=False)
    assert all(program is not None for program, _ in built[0][:-1])
    assert built[0][-1][0] is None and built[0][-1][1].span.line == 4  # the syntax error, where it is
    (entry,) = (fresh / "parser").iterdir()
    syntax_parser._parser.cache_clear()
    syntax_parser._fast_parser.cache_clear()
    loaded = parse_all(fast=True), parse_all(fast=False)
    assert loaded == built
    assert capsys.readouterr().err == ""


def test_the_tables_are_json_not_pickle(fresh):
    syntax_parser._parser()
    (entry,) = (fresh / "parser").iterdir()
    payload = entry.read_bytes().split(b"\n", 5)[5]
    assert payload.startswith(b'{"data":')
    with pytest.raises(Exception):
        pickle.loads(payload)


@pytest.mark.parametrize("kind", ["wrong hash", "truncated", "older version"])
def test_a_bad_parser_entry_is_rebuilt_and_parsing_stays_right(fresh, capsys, kind):
    reference = parse_all(fast=True)
    (entry,) = (fresh / "parser").iterdir()
    _rewrite(entry, BAD_ENTRIES[kind][0])
    syntax_parser._parser.cache_clear()
    syntax_parser._fast_parser.cache_clear()
    assert parse_all(fast=True) == reference
    (line,) = stderr_lines(capsys)
    assert BAD_ENTRIES[kind][1] in line
    (rebuilt,) = (fresh / "parser").iterdir()
    assert rebuilt.name == entry.name
    assert cache.get("parser", _parser_key()) is not None


def test_a_verified_entry_whose_tables_do_not_load_is_rebuilt(fresh, capsys):
    assert cache.put("parser", _parser_key(), b'{"data": {}, "memo": {}}')
    syntax_parser._parser()
    (line,) = stderr_lines(capsys)
    assert "cached parser tables do not load" in line
    assert tables.load(cache.get("parser", _parser_key()), **_runtime()) is not None


def _parser_key() -> str:
    from lark import __version__ as lark_version
    build = dict(parser="lalr", lexer="basic", maybe_placeholders=True)
    return cache.make_key("lark-tables", str(tables.FORMAT), lark_version, repr(sorted(build.items())),
                          syntax_parser.GRAMMAR_PATH.read_text())


def _runtime() -> dict:
    return dict(postlex=syntax_parser.Layout(), transformer=syntax_parser._TO_AST.callbacks())


# ---- planted files: nnc check succeeds and never runs them -----------------------------------------------------

def _assert_check_ok_and_no_marker(env: dict[str, str], marker: Path) -> subprocess.CompletedProcess:
    p = nnc(env, "check", str(RESNET))
    assert p.returncode == 0, p.stdout + p.stderr
    p = nnc(env, "check", str(RESNET))  # and again, once something may have been cached
    assert p.returncode == 0, p.stdout + p.stderr
    assert not marker.exists(), "a planted pickle was loaded"
    return p


def test_the_old_fallback_in_the_temp_directory_is_never_read(tmp_path):
    marker = tmp_path / "MARKER"
    (tmp_path / "blocker").write_text("a file where the cache directory would go")
    env = env_for(tmp_path, XDG_CACHE_HOME=str(tmp_path / "blocker"))  # the cache cannot be created
    planted = Path(tmp_path / "tmp", "nnc-grammar.lark-cache")
    planted.write_bytes(planted_pickle(marker))
    p = _assert_check_ok_and_no_marker(env, marker)
    assert p.stderr == ""
    assert planted.read_bytes() == planted_pickle(marker)  # not even rewritten
    assert sorted(os.listdir(tmp_path / "tmp")) == ["nnc-grammar.lark-cache"]  # and nothing else written there


def _plant_everywhere(directory: Path, marker: Path) -> None:
    """The old cache file name, and a well-formed entry (valid header and hash) whose payload is a pickle."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "grammar.lark-cache").write_bytes(planted_pickle(marker))
    (directory / "parser").mkdir(exist_ok=True)
    payload = pickle.dumps(Plant(marker))
    name = cache.entry_name("parser", _parser_key())
    header = cache._header(__version__, name[: -len(cache.ENTRY_SUFFIX)], payload)
    (directory / "parser" / name).write_bytes(header + payload)


@pytest.mark.parametrize("via", ["NNC_CACHE_DIR", "XDG_CACHE_HOME"])
def test_a_world_writable_cache_directory_is_never_read(tmp_path, via):
    marker = tmp_path / "MARKER"
    directory = tmp_path / "shared" / "nnc"
    _plant_everywhere(directory, marker)
    for d in (directory, directory / "parser"):
        os.chmod(d, 0o777)
    value = str(directory) if via == "NNC_CACHE_DIR" else str(directory.parent)
    env = env_for(tmp_path, **{via: value})
    p = _assert_check_ok_and_no_marker(env, marker)
    (line,) = p.stderr.splitlines()
    assert "writable by its group and everyone" in line and "without a cache" in line


@as_root
def test_a_cache_directory_of_another_user_is_never_read(tmp_path):
    marker = tmp_path / "MARKER"
    directory = tmp_path / "theirs"
    _plant_everywhere(directory, marker)
    for path in (directory, directory / "parser", *directory.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    os.chmod(directory, 0o700)
    env = env_for(tmp_path, NNC_CACHE_DIR=str(directory))
    p = _assert_check_ok_and_no_marker(env, marker)
    (line,) = p.stderr.splitlines()
    assert f"belongs to uid {NOBODY}" in line


def test_a_planted_pickle_entry_in_our_own_directory_is_rebuilt_not_run(tmp_path):
    """Even a well-formed entry of ours holding a pickle is only ever read as JSON."""
    marker = tmp_path / "MARKER"
    directory = tmp_path / "cache"
    _plant_everywhere(directory, marker)
    os.chmod(directory, 0o700)
    env = env_for(tmp_path, NNC_CACHE_DIR=str(directory))
    p = nnc(env, "check", str(RESNET))
    assert p.returncode == 0 and "cached parser tables do not load" in p.stderr
    p = _assert_check_ok_and_no_marker(env, marker)
    assert p.stderr == ""


# ---- nnc cache info / nnc cache clear --------------------------------------------------------------------------

def test_cache_info_and_clear(fresh, capsys):
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"cache directory: {fresh} (from NNC_CACHE_DIR)" in out and "does not exist yet" in out
    syntax_parser._parser()
    assert cache.put("llvm", "k", b"x" * 2048)
    old = fresh / "llvm" / cache.entry_name("llvm", "k", version="0.0.1")
    old.write_bytes(cache._header("0.0.1", "0" * 64, b"y") + b"y")
    (fresh / "grammar.lark-cache").write_bytes(b"an old pickle")
    (fresh / "notes.txt").write_text("not nnc's")
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "in use: yours, and writable by you alone" in out
    assert re.search(r"parser +1 entry ", out) and re.search(r"llvm +1 entry ", out)
    assert re.search(r"total +2 entries ", out)
    assert "2 entries from other nnc versions" in out
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 4 files (") and str(fresh) in out
    assert sorted(os.listdir(fresh)) == ["notes.txt"]  # what nnc did not write stays
    assert main(["cache", "info"]) == 0
    assert "entr" not in capsys.readouterr().out


def test_cache_clear_makes_a_directory_of_yours_private_again(fresh, capsys):
    assert cache.put("llvm", "k", b"x")
    os.chmod(fresh, 0o777)
    assert main(["cache", "info"]) == 0
    assert "not used: it is writable by its group and everyone (mode 777)" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert os.stat(fresh).st_mode & 0o777 == 0o700
    assert cache.put("llvm", "k", b"x") and cache.get("llvm", "k") == b"x"


@as_root
def test_cache_clear_refuses_a_directory_of_another_user(fresh, capsys):
    assert cache.put("llvm", "k", b"x")
    os.chown(fresh, NOBODY, -1)
    assert main(["cache", "clear"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nnc: error: the cache directory") and f"belongs to uid {NOBODY}" in err
    assert entry_path(fresh, "llvm", "k").exists()


def test_cache_needs_an_action(capsys):
    assert main(["cache", "frob"]) == 2
    assert "invalid choice: 'frob'" in capsys.readouterr().err
