"""rnn(x, units): h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
from .recurrent import make_recurrent

OP = make_recurrent("rnn", "an Elman recurrent layer with tanh, [N, T, F] -> [N, T, units]")
