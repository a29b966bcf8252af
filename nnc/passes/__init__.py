"""Graph-to-graph transforms: autodiff, training-mode rewrites, and (later) fusion and folding."""
