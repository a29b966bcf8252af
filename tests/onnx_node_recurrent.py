"""The .nn program for an ONNX RNN, LSTM or GRU node test (see onnx_node_programs.py).

ONNX's layer is time first (layout 0) and writes W [D, G·H, F], R [D, G·H, H], B [D, 2·G·H] with the gates
in the order i, o, f, c (LSTM) and z, r, h (GRU); nnc's layers are PyTorch's: batch first, weight_ih
[G·H, F], weight_hh [G·H, H], bias_ih and bias_hh [G·H], gates i, f, g, o and r, z, n. The program
transposes the sequence, reverses it for direction="reverse", and the weights are reordered block by block.
"""
from __future__ import annotations

import numpy as np

from onnx_node_programs import NotExpressible, Plan, _const, _decl, _shape, _src, attrs

GATES = {"RNN": [0], "LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2]}  # PyTorch's block b is ONNX's block GATES[b]
DEFAULT_ACTS = {"RNN": ["Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def reorder(w: np.ndarray, kind: str) -> np.ndarray:
    """ONNX's stacked gate blocks (axis 0) in PyTorch's order."""
    blocks = np.split(w, len(GATES[kind]), axis=0)
    return np.concatenate([blocks[i] for i in GATES[kind]], axis=0)


def torch_weights(w, r, b, kind: str) -> list[dict[str, np.ndarray]]:
    """Per direction, nnc's weight_ih, weight_hh, bias_ih, bias_hh from ONNX's W, R and B (zeros when absent)."""
    out = []
    for d in range(w.shape[0]):
        bd = b[d] if b is not None else np.zeros(2 * w.shape[1], w.dtype)
        half = w.shape[1]
        out.append({"weight_ih": reorder(w[d], kind), "weight_hh": reorder(r[d], kind),
                    "bias_ih": reorder(bd[:half], kind), "bias_hh": reorder(bd[half:], kind)})
    return out


def recurrent(case) -> Plan:
    g = case.model.graph
    node = g.node[0]
    kind = node.op_type
    a = attrs(node)
    ins = list(node.input) + [""] * (8 - len(node.input))
    vis = {v.name: v for v in g.input}
    layout = a.get("layout", 0)
    direction = a.get("direction", "forward")
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    if acts and acts[:len(DEFAULT_ACTS[kind])] != DEFAULT_ACTS[kind]:
        raise NotExpressible(f"activations {acts}")
    if "clip" in a:
        raise NotExpressible("clip")
    if kind == "GRU" and not a.get("linear_before_reset", 0):
        raise NotExpressible("linear_before_reset=0 (nnc's gru is PyTorch's, the reset gate after the hidden matmul)")
    if kind == "LSTM" and (ins[7] or a.get("input_forget", 0)):
        raise NotExpressible("peepholes (P) or input_forget")
    x = _shape(vis[ins[0]])
    t, n = (x[0], x[1]) if layout == 0 else (x[1], x[0])
    if ins[4] and np.any(_const(case, ins[4]) != t):
        raise NotExpressible("sequence_lens shorter than the sequence")
    hidden = a["hidden_size"]
    bidir = direction == "bidirectional"
    initial = [i for i in (ins[5], ins[6]) if i]
    if initial and bidir:
        raise NotExpressible("initial states with bidirectional (nnc: not yet)")
    inputs = [_decl("x", vis[ins[0]])] + [_decl(f"s{i}", vis[v]) for i, v in enumerate(initial)]
    feeds = {"x": ins[0], **{f"s{i}": v for i, v in enumerate(initial)}}
    body = [f"xs = {'transpose(x, [1, 0, 2])' if layout == 0 else 'x'}"]
    if direction == "reverse":
        body.append("xs = reverse(xs, [1])")
    states = [f"reshape(s{i}, [{n}, {hidden}])" for i in range(len(initial))]  # [1, N, H] or [N, 1, H]
    opts = [str(hidden)]
    if bidir:
        opts.append("bidirectional=true")
    else:
        opts.append("return_state=true")
        if states:
            opts.append(f"initial={states[0] if kind != 'LSTM' else '[' + ', '.join(states) + ']'}")
    lhs = "h" if bidir else ("h, hn, cn" if kind == "LSTM" else "h, hn")
    body.append(f"{lhs} = xs -> {kind.lower()}({', '.join(opts)})")
    if direction == "reverse":
        body.append("h = reverse(h, [1])")
    d = 2 if bidir else 1
    y_perm = "[1, 2, 0, 3]" if layout == 0 else "[0, 1, 2, 3]"
    state_shape = f"[{d}, {n}, {hidden}]" if layout == 0 else f"[{n}, {d}, {hidden}]"
    outs = [o for o in node.output]
    exprs = {0: f"transpose(reshape(h, [{n}, {t}, {d}, {hidden}]), {y_perm})"}
    if bidir:
        fwd = f"slice(slice(h, {t - 1}, end={t}, axis=1), 0, end={hidden}, axis=2)"
        bwd = f"slice(slice(h, 0, end=1, axis=1), {hidden}, end={2 * hidden}, axis=2)"
        both = f"concat({fwd}, {bwd}, axis=1)"  # [N, 2, H]
        exprs[1] = f"transpose({both}, [1, 0, 2])" if layout == 0 else both
        if kind == "LSTM" and len(outs) > 2 and outs[2]:
            raise NotExpressible("Y_c with bidirectional (nnc returns no state there)")
    else:
        exprs[1] = f"reshape(hn, {state_shape})"
        if kind == "LSTM":
            exprs[2] = f"reshape(cn, {state_shape})"
    names, k = [], 0
    for i, o in enumerate(outs):
        if o:
            body.append(f"output y{k} = {exprs[i]}")
            names.append(o)
            k += 1
    w_in, r_in, b_in = ins[1], ins[2], ins[3]

    def params(named):
        per = torch_weights(named[w_in], named[r_in], named[b_in] if b_in else None, kind)
        out = {f".{kind.lower()}/{role}": v for role, v in per[0].items()}
        if bidir:
            out.update({f".reverse.{kind.lower()}/{role}": v for role, v in per[1].items()})
        return out
    return Plan(_src(inputs, body), feeds, params, names)
