"""Reading files and following imports: each file becomes a Module with its global scope."""
from __future__ import annotations

from pathlib import Path

from ..diagnostics import Diagnostic, Label, Reporter
from ..source import SourceFile, SourceSet, Span, display_name
from ..syntax import ast
from ..syntax.parser import SyntaxProblem, parse_program
from .elaborator import Elaborator, Module
from .scope import Scope
from .values import BlockFn, ModelFn

MAX_FILE_BYTES = 16 * 1024 * 1024


class UnreadableFile(Exception):
    """The file named on the command line cannot be read (exit status 2)."""


class Loader:
    def __init__(self, reporter: Reporter, sources: SourceSet, elaborator: Elaborator):
        self.r = reporter
        self.sources = sources
        self.elab = elaborator
        self.modules: dict[Path, Module | None] = {}
        self.loading: list[Path] = []

    def read(self, path: Path) -> str:
        try:
            data = path.read_bytes()
        except IsADirectoryError:
            raise UnreadableFile(f"{path} is a directory, not a .nn file") from None
        except FileNotFoundError:
            raise UnreadableFile(f"{path}: no such file") from None
        except OSError as e:
            raise UnreadableFile(f"{path}: {e.strerror or e}") from None
        if len(data) > MAX_FILE_BYTES:
            raise UnreadableFile(f"{path} is {len(data) / 2**20:.1f} MiB; programs are limited to "
                                 f"{MAX_FILE_BYTES // 2**20} MiB")
        return data.decode("utf-8", errors="replace")

    def load_main(self, path: Path, text: str | None = None) -> Module | None:
        if text is None:
            text = self.read(path)
        return self._load(path.resolve() if path.exists() else path, display_name(path), text)

    def _load(self, key: Path, name: str, text: str) -> Module | None:
        if key in self.modules:
            return self.modules[key]
        source = self.sources.add(SourceFile(name, text))
        try:
            program = parse_program(source)
        except SyntaxProblem as e:
            self.r.add(e.diagnostic)
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
        target = (base / item.path).resolve()
        if target in self.loading:
            chain = self.loading[self.loading.index(target):] + [target]
            self.r.error("E0110", "import cycle: " + " -> ".join(p.name for p in chain), item.path_span,
                         "this import leads back here", hint="move what both files need into a third file")
            return None
        try:
            text = self.read(target)
        except UnreadableFile as e:
            self.r.error("E0109", f'cannot import "{item.path}"', item.path_span, str(e).replace(str(target), "").strip(": ")
                         or "cannot be read", hint=f"paths are relative to {display_name(base) or '.'}")
            return None
        return self._load(target, display_name(target), text)

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
                if other is not None:
                    for name, binding in other.globals.names.items():
                        if name not in seen:
                            module.globals.bind(name, binding.value, None)
        for item in module.program.items:
            if isinstance(item, ast.BlockDef):
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
