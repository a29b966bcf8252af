"""The IR: typed values with symbolic shapes, nodes that keep their source span, and graphs."""
from .types import Dim, Sym, TensorType, DTYPES, dim_str, shape_str, shape_json, sym
from .graph import Graph, Node, Value, Parameter

__all__ = ["Dim", "Sym", "TensorType", "DTYPES", "dim_str", "shape_str", "shape_json", "sym",
           "Graph", "Node", "Value", "Parameter"]
