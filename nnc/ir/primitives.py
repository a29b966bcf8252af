"""The primitive ops: what a backend must implement; everything else decomposes into them.

Every op outside this set has a `decompose` rule in its own file
(nnc/passes/decompose.py expands what a backend does not declare it
supports). Every primitive has a numpy reference, a shape rule and a gradient
rule (`vjp`), checked by finite differences in tests/test_primitives.py.

=====================  =====================================================================
primitive              what it is
=====================  =====================================================================
constant               a scalar known at compile time (attr `value`, `dtype`)
cast                   the same values in another dtype (attr `dtype`)
neg exp log sqrt       elementwise math of one float tensor (cos for cosine learning-rate
tanh sigmoid abs sign  schedules)
cos
add sub mul div        elementwise, NumPy broadcasting (an explicit broadcast pass may make
maximum minimum pow    the broadcasts `broadcast_to` nodes)
compare                a < b (attr `kind`: lt le gt ge eq ne) → bool, broadcast
where                  cond ? a : b, broadcast
sum max                reductions over axes (attrs `axis`, `keepdims`): reduce_sum, reduce_max
argmax                 the index of the first maximum along one axis → i64
matmul                 matrix product, batch axes broadcast
reshape                a new static shape (one -1 inferred)
reshape_like           reshape to a second tensor's run-time shape (symbolic sizes such as N·T)
broadcast_to           x broadcast to a second tensor's shape, or to a static shape (attr `shape`)
transpose              permute axes
slice                  start:end:step along one axis
pad                    a constant border of `lo`/`hi` elements per axis (negative crops)
reverse                flip along axes
concat                 join along an axis
iota                   0, 1, …, n−1 as i64, n the size of an axis of another tensor
gather                 rows of a table at integer ids (table[ids], axis 0)
scatter_add            x with rows of updates added at ids (np.add.at along axis 0)
conv                   general convolution: N, C, spatial...; stride, padding (lo, hi per axis,
                       may crop), input (lhs) and kernel (rhs) dilation, groups; its gradients
                       are convolutions with roles swapped, as in JAX
reduce_window          max or sum over sliding windows of the spatial axes (pooling)
select_and_scatter_add each window's gradient added at the window's maximum (max pooling's
                       gradient); pool_select (XLA's select-and-gather) is its transpose
pool_select            h at each window's maximum of x
size                   the element count along axes, at run time (batch statistics, means)
random_uniform         counter-based (Philox) uniforms in [0, 1): every random number in a graph
rnn lstm gru           recurrent layers and their backward (recurrent_backward), as kernel
recurrent_backward     primitives until a `scan` primitive exists
=====================  =====================================================================
"""
from __future__ import annotations

PRIMITIVES: frozenset[str] = frozenset({
    "constant", "cast",
    "neg", "exp", "log", "sqrt", "tanh", "sigmoid", "abs", "sign", "cos",
    "add", "sub", "mul", "div", "maximum", "minimum", "pow", "compare", "where",
    "sum", "max", "argmax", "matmul",
    "reshape", "reshape_like", "broadcast_to", "transpose", "slice", "pad", "reverse", "concat", "iota",
    "gather", "scatter_add",
    "conv", "reduce_window", "select_and_scatter_add", "pool_select",
    "size", "random_uniform",
    "rnn", "lstm", "gru", "recurrent_backward",
})

# Ops whose outputs do not vary smoothly with their inputs: their gradient rule returns no gradient.
NOT_DIFFERENTIABLE: frozenset[str] = frozenset({"compare", "argmax", "iota", "size", "random_uniform",
                                                "sign"})

# Kernel primitives whose own gradient (a second derivative of the layer) is not written yet. None since
# recurrent_backward differentiates backpropagation through time unrolled in nnc ops (static length only).
NO_GRADIENT_YET: frozenset[str] = frozenset()
