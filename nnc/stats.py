"""Per-layer statistics: output shape, parameters, multiply-accumulates and activation memory for one sample."""
from __future__ import annotations

from dataclasses import dataclass

from .ir.graph import Graph
from .ir.types import TensorType, shape_json, shape_str
from .ops import get as get_op


@dataclass(frozen=True)
class LayerStats:
    name: str
    op: str
    line: int | None
    output_shape: tuple
    params: int
    macs: int
    activation_bytes: int

    def to_json(self) -> dict:
        return {"name": self.name, "op": self.op, "line": self.line, "output_shape": shape_json(self.output_shape),
                "params": self.params, "macs": self.macs, "activation_bytes": self.activation_bytes}


@dataclass(frozen=True)
class ModelStats:
    name: str
    params: int
    state: int
    macs: int
    activation_bytes: int
    layers: tuple[LayerStats, ...]

    def to_json(self) -> dict:
        return {"params": self.params, "state": self.state, "macs": self.macs,
                "activation_bytes": self.activation_bytes, "layers": [l.to_json() for l in self.layers]}


def model_stats(graph: Graph) -> ModelStats:
    """Counts for a batch of one: every symbolic dimension is taken as 1.

    Parameters shared by several calls (a `layer`, a model called twice) are
    counted once, on the first node that uses them. MACs count dense, conv,
    matmul, attention and recurrent products, as the conformance suite does.
    """
    params_by_value = graph.param_by_value()
    counted: set[int] = set()
    rows = []
    for node in graph.nodes:
        if node.op == "constant":
            continue
        op = get_op(node.op)
        data_inputs = [graph.type_of(i) for i in node.inputs if i not in params_by_value]
        outs = [graph.type_of(o) for o in node.outputs]
        n_params = 0
        for i in node.inputs:
            p = params_by_value.get(i)
            if p is not None and p.trainable and i not in counted:
                counted.add(i)
                n_params += p.value.type.numel()
        macs = op.macs(data_inputs, outs, node.attr_dict) if op is not None and op.macs else 0
        rows.append(LayerStats(node.path, node.op, node.span.line if node.span else None, outs[0].shape, n_params,
                               macs, sum(t.nbytes() for t in outs)))
    trainable = sum(p.value.type.numel() for p in graph.params if p.trainable)
    state = sum(p.value.type.numel() for p in graph.params if not p.trainable)
    return ModelStats(graph.name, trainable, state, sum(r.macs for r in rows), sum(r.activation_bytes for r in rows),
                      tuple(rows))


def human(n: int, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n} {unit}".strip()


def human_bytes(n: int) -> str:
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.1f} {suffix}"
    return f"{n} B"


def render_table(stats: ModelStats, inputs: dict[str, TensorType], width: int | None = None) -> str:
    """The per-layer table as text (rich), with a totals row."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"model {stats.name}  (inputs: " + ", ".join(f"{n}: {t}" for n, t in inputs.items()) + ")",
                  title_justify="left", show_lines=False)
    table.add_column("layer", overflow="fold")
    table.add_column("op")
    table.add_column("line", justify="right")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    table.add_column("MACs", justify="right")
    table.add_column("activations", justify="right")
    for r in stats.layers:
        table.add_row(r.name, r.op, str(r.line or ""), shape_str(r.output_shape), f"{r.params:,}" if r.params else "",
                      f"{r.macs:,}" if r.macs else "", human_bytes(r.activation_bytes))
    table.add_section()
    table.add_row("total", "", "", "", f"{stats.params:,}", f"{stats.macs:,}", human_bytes(stats.activation_bytes))
    console = Console(width=width or 120, record=True, file=_Null(), color_system=None)
    console.print(table)
    footer = (f"{stats.params:,} trainable parameters ({human_bytes(stats.params * 4)} as f32)"
              + (f", {stats.state:,} non-trainable state values" if stats.state else "")
              + f"; {human(stats.macs, 'MAC')} per sample")
    return console.export_text().rstrip() + "\n" + footer


class _Null:
    def write(self, s):
        return len(s)

    def flush(self):
        pass
