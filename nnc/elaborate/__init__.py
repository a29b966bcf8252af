"""AST to IR: load files and imports, evaluate compile-time code, build typed graphs."""
from .elaborator import Elaborator, MinimizeStep, ModelInfo, Module, TrainInfo
from .loader import Loader, UnreadableFile

__all__ = ["Elaborator", "Loader", "MinimizeStep", "ModelInfo", "Module", "TrainInfo", "UnreadableFile"]
