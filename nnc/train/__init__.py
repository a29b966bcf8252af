"""Training: the loop, its optimisers and the data it feeds on."""
