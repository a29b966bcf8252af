"""attention_backward(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, g): the gradients of multi-head attention."""
from .base import Attr, Op

ORDER = ("q", "k", "v", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")


def reference(arrays, a, ctx):
    from ._attention_kernels import multi_head_attention_backward
    d = multi_head_attention_backward(*arrays[:11], a["heads"], arrays[11])
    return [d[name] for name in ORDER]


OP = Op(name="attention_backward", doc="the gradients of attention", inputs=ORDER + ("g",),
        attrs=(Attr("heads", "pos_int"),), infer=lambda ins, a: list(ins[:11]), reference=reference,
        outputs=lambda a: 11, category="gradient", internal=True)
