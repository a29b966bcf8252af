"""The contenders of bench/cpu_speed.py built from nnc's own weights: an ONNX graph as ONNX users build it
(Gemm/Conv/BatchNormalization/Relu/MaxPool/Add/GlobalAveragePool/Flatten nodes with onnx.helper, not
nnc's exporter) and a PyTorch eager network (torch.nn.functional with the same tensors as parameters).

Each network is written once against a small builder interface (`conv`, `bn`, `relu`, `maxpool`, `add`,
`gap`, `flatten`, `dense`) and consumes nnc's layers in program order, checking every weight's shape, so
all contenders compute the same function with the same numbers (bench/cpu_speed.py also compares their
outputs). Outputs are logits, as nnc's models return: no Softmax node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Layer:
    prefix: str                  # nnc's parameter prefix, e.g. "resnet18/x.stage/x.basic/y.conv2d"
    kind: str                    # conv2d, batchnorm, dense
    arrays: dict[str, np.ndarray]  # weight, bias, running_mean, running_var (those it has)


def layers(params: dict, state: dict) -> list[Layer]:
    """nnc's parameters and state (program order) grouped by layer."""
    out: dict[str, Layer] = {}
    for name, a in list(params.items()) + list(state.items()):
        prefix, role = name.rsplit("/", 1)
        kind = prefix.rsplit("/", 1)[-1].split(".")[-1].rstrip("0123456789").rstrip("_")
        out.setdefault(prefix, Layer(prefix, kind, {})).arrays[role] = np.ascontiguousarray(a, np.float32)
    return list(out.values())


class _Take:
    def __init__(self, items: list[Layer]):
        self.items, self.i = items, 0

    def take(self, kind: str) -> Layer:
        layer = self.items[self.i]
        if layer.kind != kind:
            raise ValueError(f"expected a {kind} layer, found {layer.prefix} ({layer.kind})")
        self.i += 1
        return layer

    def done(self) -> None:
        if self.i != len(self.items):
            raise ValueError(f"unused layers from {self.items[self.i].prefix}")


# -- the networks, written once ---------------------------------------------------------------------------

def mlp(b, x):
    for i in range(3):
        x = b.dense(x)
        if i < 2:
            x = b.relu(x)
    return x


def lenet5(b, x):
    x = b.maxpool(b.relu(b.conv(x, pad=2)), 2, 2, 0)
    x = b.maxpool(b.relu(b.conv(x)), 2, 2, 0)
    x = b.flatten(x)
    x = b.relu(b.dense(x))
    x = b.relu(b.dense(x))
    return b.dense(x)


def resnet18(b, x):
    """torchvision's ResNet-18 (examples/resnet18.nn), in nnc's parameter order: y's two convolutions and
    batchnorms, then the skip's."""
    x = b.maxpool(b.relu(b.bn(b.conv(x, 2, 3))), 3, 2, 1)
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            s = stride if i == 0 else 1
            y = b.bn(b.conv(b.relu(b.bn(b.conv(x, s, 1))), 1, 1))
            skip = b.bn(b.conv(x, s, 0)) if s != 1 or cin != width else x
            x = b.relu(b.add(y, skip))
            cin = width
    return b.dense(b.flatten(b.gap(x)))


NETWORKS = {"mlp": mlp, "lenet5": lenet5, "resnet18": resnet18}


# -- ONNX -------------------------------------------------------------------------------------------------

class _Onnx(_Take):
    def __init__(self, items):
        super().__init__(items)
        self.nodes, self.inits, self.n = [], [], 0

    def _name(self, op: str) -> str:
        self.n += 1
        return f"{op.lower()}{self.n}"

    def _node(self, op, inputs, **attrs) -> str:
        from onnx import helper
        out = self._name(op)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def _init(self, a: np.ndarray) -> str:
        from onnx import numpy_helper
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def conv(self, x, stride=1, pad=0):
        layer = self.take("conv2d")
        w = layer.arrays["weight"]
        ins = [x, self._init(w)] + ([self._init(layer.arrays["bias"])] if "bias" in layer.arrays else [])
        return self._node("Conv", ins, kernel_shape=list(w.shape[2:]), strides=[stride] * 2, pads=[pad] * 4)

    def bn(self, x):
        a = self.take("batchnorm").arrays
        return self._node("BatchNormalization", [x] + [self._init(a[k]) for k in
                                                      ("weight", "bias", "running_mean", "running_var")],
                          epsilon=1e-5)

    def relu(self, x):
        return self._node("Relu", [x])

    def maxpool(self, x, k, s, p):
        return self._node("MaxPool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)

    def add(self, x, y):
        return self._node("Add", [x, y])

    def gap(self, x):
        return self._node("GlobalAveragePool", [x])

    def flatten(self, x):
        return self._node("Flatten", [x], axis=1)

    def dense(self, x):
        a = self.take("dense").arrays
        return self._node("Gemm", [x, self._init(a["weight"]), self._init(a["bias"])], transB=1)


def onnx_model(network: str, items: list[Layer], sample_shape: tuple[int, ...]) -> bytes:
    """The serialized ONNX model (opset 21, IR version 10, batch axis "N") of `network` with these weights."""
    import onnx
    from onnx import TensorProto, helper
    b = _Onnx(items)
    y = NETWORKS[network](b, "x")
    b.done()
    graph = helper.make_graph(b.nodes, network, [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                              ["N", *sample_shape])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", None])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_session(model: bytes, threads: int):
    """An ONNX Runtime CPU session as backends.md §4 advises on a shared machine: `threads` intra-op
    threads, no spinning, every graph optimisation (ORT folds BatchNormalization into Conv)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


# -- PyTorch eager ----------------------------------------------------------------------------------------

class _Torch(_Take):
    """Runs a network eagerly with torch.nn.functional; the weights become tensors once (parameters that
    require gradients for training)."""

    def __init__(self, items, train: bool = False):
        import torch
        super().__init__(items)
        self.t = {id(layer): {k: torch.tensor(v, requires_grad=train and k in ("weight", "bias"))
                              for k, v in layer.arrays.items()} for layer in items}
        self.params = [p for layer in items for k, p in self.t[id(layer)].items() if p.requires_grad]

    def run(self, network: str, x):
        self.i = 0
        y = NETWORKS[network](self, x)
        self.done()
        return y

    def conv(self, x, stride=1, pad=0):
        import torch.nn.functional as F
        a = self.t[id(self.take("conv2d"))]
        return F.conv2d(x, a["weight"], a.get("bias"), stride, pad)

    def bn(self, x):
        import torch.nn.functional as F
        a = self.t[id(self.take("batchnorm"))]
        return F.batch_norm(x, a["running_mean"], a["running_var"], a["weight"], a["bias"], False, 0.1, 1e-5)

    def relu(self, x):
        import torch
        return torch.relu(x)

    def maxpool(self, x, k, s, p):
        import torch.nn.functional as F
        return F.max_pool2d(x, k, s, p)

    def add(self, x, y):
        return x + y

    def gap(self, x):
        return x.mean((2, 3), keepdim=True)

    def flatten(self, x):
        return x.flatten(1)

    def dense(self, x):
        import torch.nn.functional as F
        a = self.t[id(self.take("dense"))]
        return F.linear(x, a["weight"], a["bias"])


def torch_infer(network: str, items: list[Layer]):
    """A function x (numpy) -> logits (torch) running the network in inference mode."""
    import torch
    net = _Torch(items)

    def infer(x):
        with torch.inference_mode():
            return net.run(network, torch.from_numpy(x))
    return infer


def torch_trainer(network: str, items: list[Layer], optimizer: str, **hyper):
    """A function (x, y) -> loss (float) doing one training step: cross entropy (mean), backward, the
    optimiser's step (torch.optim.SGD or Adam with `hyper`)."""
    import torch
    import torch.nn.functional as F
    net = _Torch(items, train=True)
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer](net.params, **hyper)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net.run(network, torch.from_numpy(x)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        return loss.item()
    return step
