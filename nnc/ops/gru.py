"""gru(x, units): PyTorch's GRU (gates r, z, n; both biases), batch first."""
from .recurrent import make_recurrent

OP = make_recurrent("gru", "a gated recurrent unit layer, [N, T, F] -> [N, T, units]")
