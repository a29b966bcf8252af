"""A dict of named arrays read from an executable, whose assignments are written back through load_state."""
from __future__ import annotations

from typing import Callable


class StateDict(dict):
    """name -> ndarray (a snapshot); `d[name] = array` checks the name and loads the value into the executable.

    The executable checks shape and dtype (and converts a float array to the declared float dtype), so
    every backend accepts exactly the same assignments.
    """

    def __init__(self, values: dict, names: list[str], load: Callable[[dict], dict]):
        super().__init__((n, values[n]) for n in names)
        self._load = load  # loads {name: value} and returns the executable's state afterwards

    def __setitem__(self, name: str, value) -> None:
        if name not in self:
            raise KeyError(f"no parameter {name!r}")
        super().__setitem__(name, self._load({name: value})[name])

    def update(self, *args, **kwargs) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v
