"""relu6(x) = min(max(x, 0), 6)."""
from .hardtanh import make_clip

OP = make_clip("relu6", 0.0, 6.0, "x clipped to [0, 6]", "x -> relu6")
