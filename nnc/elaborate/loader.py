"""Reading files and following imports: each file becomes a Module with its global scope."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..diagnostics import Diagnostic, Label, Reporter
from ..source import SourceFile, SourceSet, Span, display_name
from ..syntax import ast
from ..syntax.parser import SyntaxProblem, parse_program
from .elaborator import Elaborator, Module
from .scope import Scope
from .values import BlockFn, ModelFn

MAX_FILE_BYTES = 16 * 1024 * 1024


def resolved(path: Path) -> Path:
    """The absolute path, symlinks followed where they can be (a symlink loop is left as it is)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def shown(path: Path) -> str:
    """How a file is named in diagnostics (display_name), whatever the path."""
    try:
        return display_name(path)
    except (OSError, RuntimeError, ValueError):
        return str(path)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class UnreadableFile(Exception):
    """The file named on the command line cannot be read (exit status 2)."""


class Loader:
    def __init__(self, reporter: Reporter, sources: SourceSet, elaborator: Elaborator):
        self.r = reporter
        self.sources = sources
        self.elab = elaborator
        self.modules: dict[Path, Module | None] = {}
        self.loading: list[Path] = []

    def read(self, path: Path, main: bool = True) -> str:
        """The text of a file. Only regular files (and, for the file named on the command line, a pipe)
        are read, and at most MAX_FILE_BYTES of them: `import "/dev/zero"` is an error, not a hang."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise UnreadableFile(f"{path}: no such file") from None
        except (OSError, ValueError) as e:  # a symlink loop, a name too long, a NUL in the name
            raise UnreadableFile(f"{path}: {getattr(e, 'strerror', None) or e}") from None
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile(f"{path} is a directory, not a .nn file")
        if not (stat.S_ISREG(info.st_mode) or (main and stat.S_ISFIFO(info.st_mode))):
            raise UnreadableFile(f"{path} is not a regular file")
        if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
            raise UnreadableFile(f"{path} is {info.st_size / 2**20:.1f} MiB; programs are limited to "
                                 f"{MAX_FILE_BYTES // 2**20} MiB")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except IsADirectoryError:
            raise UnreadableFile(f"{path} is a directory, not a .nn file") from None
        except FileNotFoundError:
            raise UnreadableFile(f"{path}: no such file") from None
        except (OSError, ValueError) as e:
            raise UnreadableFile(f"{path}: {getattr(e, 'strerror', None) or e}") from None
        if len(data) > MAX_FILE_BYTES:
            raise UnreadableFile(f"{path} is {len(data) / 2**20:.1f} MiB; programs are limited to "
                                 f"{MAX_FILE_BYTES // 2**20} MiB")
        return data.decode("utf-8-sig", errors="replace")  # -sig: a byte order mark is not program text

    def load_main(self, path: Path, text: str | None = None) -> Module | None:
        if text is None:
            text = self.read(path)
        return self._load(resolved(path), shown(path), text)

    def _load(self, key: Path, name: str, text: str) -> Module | None:
        if key in self.modules:
            return self.modules[key]
        source = self.sources.add(SourceFile(name, text))
        try:
            program = parse_program(source)
        except SyntaxProblem as e:
            for d in e.diagnostics:
                self.r.add(d)
            self.modules[key] = None
            return None
        module = Module(name, key, program, Scope(None, self.elab.usage))
        self.modules[key] = module
        self.loading.append(key)
        try:
            self._define(module)
        finally:
            self.loading.pop()
        return module

    def _import(self, item: ast.Import, module: Module) -> Module | None:
        base = module.path.parent if module.path is not None else Path.cwd()
        target = resolved(base / item.path)
        if target in self.loading:
            chain = self.loading[self.loading.index(target):] + [target]
            self.r.error("E0110", "import cycle: " + " -> ".join(p.name for p in chain), item.path_span,
                         "this import leads back here", hint="move what both files need into a third file")
            return None
        try:
            text = self.read(target, main=False)
        except UnreadableFile as e:
            self.r.error("E0109", f'cannot import "{_shorten(item.path)}"', item.path_span,
                         str(e).replace(str(target), "").strip(": ") or "cannot be read",
                         hint=f"paths are relative to {shown(base) or '.'}")
            return None
        return self._load(target, shown(target), text)

    def _check_params(self, block: ast.BlockDef) -> None:
        """`block b(x, x)`: a parameter declared twice."""
        first: dict[str, Span] = {}
        for p in block.params:
            at = Span(p.span.file, p.span.line, p.span.column, p.span.line, p.span.column + len(p.name))
            if p.name in first:
                self.r.error("E0106", f"block `{block.name}` declares the parameter `{p.name}` twice", at,
                             "declared again here", labels=[Label(first[p.name], "first declared here")],
                             hint="give each parameter its own name")
            else:
                first[p.name] = at

    def _define(self, module: Module) -> None:
        seen: dict[str, Span] = {}

        def define(name: str, span: Span, value) -> None:
            if name in seen:
                self.r.error("E0106", f"`{name}` is defined twice", span, "defined again here",
                             labels=[Label(seen[name], "first defined here")])
                return
            seen[name] = span
            module.globals.bind(name, value, None)

        for item in module.program.items:
            if isinstance(item, ast.Import):
                other = self._import(item, module)
                if other is None:
                    module.broken_imports.append(item.path)
                else:
                    for name, binding in other.globals.names.items():
                        if name not in seen:
                            module.globals.bind(name, binding.value, None)
        for item in module.program.items:
            if isinstance(item, ast.BlockDef):
                self._check_params(item)
                define(item.name, item.name_span, BlockFn(item, module))
            elif isinstance(item, ast.ModelDef):
                define(item.name, item.name_span, ModelFn(item, module))
                module.models.append(item)
            elif isinstance(item, ast.TrainDef):
                if item.name in seen:
                    self.r.error("E0106", f"`{item.name}` is defined twice", item.name_span, "defined again here",
                                 labels=[Label(seen[item.name], "first defined here")])
                else:
                    seen[item.name] = item.name_span
                    module.trains.append(item)
        for item in module.program.items:
            if isinstance(item, ast.Const):
                value = self.elab.const_value(item, module)
                define(item.name, item.name_span, value)
