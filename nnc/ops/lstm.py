"""lstm(x, units): PyTorch's LSTM (gates i, f, g, o; both biases), batch first."""
from .recurrent import make_recurrent

OP = make_recurrent("lstm", "a long short-term memory layer, [N, T, F] -> [N, T, units]")
