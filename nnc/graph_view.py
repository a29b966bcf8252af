"""`nnc graph`: a program's dataflow graph as the user wrote it and as a compiled backend receives it.

Two stages: `built` (the model, or the training step with its gradients and
updates) and `primitives` (after the pass list of a compiled backend:
decomposed into the primitive set, broadcasts and casts explicit, constants
folded, dead code gone). Drawn as Graphviz DOT, rendered to SVG by `dot`
where Graphviz is installed; otherwise, and for a terminal, a text listing.
Every node is labelled with its op, output shape and `.nn` line.
"""
from __future__ import annotations

import shutil
import subprocess

from .ir.graph import Graph
from .ir.verify import format_graph

STAGES = ("built", "primitives")


class _Primitives:
    """A stand-in for a compiled backend: it lowers exactly the primitive set."""

    name = "primitives"

    def __init__(self):
        from .ir.primitives import PRIMITIVES
        self.primitives = PRIMITIVES


def stage(graph: Graph, which: str) -> Graph:
    """The graph at one stage of the pipeline."""
    if which == "built":
        return graph
    from .passes.pipeline import prepare
    return prepare(graph, _Primitives(), verify_each=False)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graphs: list[tuple[str, Graph]]) -> str:
    """DOT for one or more graphs, each in its own cluster; parameters are folded into their node's label."""
    lines = ["digraph nnc {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [color="#555555", arrowsize=0.6];']
    for k, (title, g) in enumerate(graphs):
        prefix = f"s{k}_"
        lines += [f"  subgraph cluster_{k} {{", f"    label={_quote(title)};", '    color="#bbbbbb";']
        producer = {}
        params = g.param_by_value()
        for name, vid in g.inputs:
            lines.append(f"    {prefix}v{vid} [shape=ellipse, style=filled, fillcolor=\"#e8f0fe\", "
                         f"label={_quote(f'{name}: {g.type_of(vid)}')}];")
            producer[vid] = f"{prefix}v{vid}"
        for i, node in enumerate(g.nodes):
            shapes = ", ".join(str(g.type_of(o)) for o in node.outputs)
            where = f"line {node.span.line}" if node.span else ""
            weights = [params[v].name.rsplit("/", 1)[-1] for v in node.inputs if v in params]
            label = "\\n".join(x for x in (node.op, shapes, ", ".join(weights), where) if x)
            label = label.replace('"', "'")
            lines.append(f'    {prefix}n{i} [shape=box, style="rounded", label="{label}", '
                         f"tooltip={_quote(node.path)}];")
            for v in node.inputs:
                if v in producer:
                    lines.append(f"    {producer[v]} -> {prefix}n{i};")
            for o in node.outputs:
                producer[o] = f"{prefix}n{i}"
        for name, vid in g.outputs:
            lines.append(f"    {prefix}out_{len(lines)} [shape=doubleoctagon, label={_quote(name)}];")
            if vid in producer:
                lines.append(f"    {producer[vid]} -> {prefix}out_{len(lines) - 1};")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(graphs: list[tuple[str, Graph]]) -> str:
    return "\n\n".join(f"# {title}\n{format_graph(g)}" for title, g in graphs) + "\n"


def render_svg(dot: str) -> bytes | None:
    """SVG from Graphviz's `dot`, or None where Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    done = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout
