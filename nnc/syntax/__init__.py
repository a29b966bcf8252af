"""Text to AST: the Lark grammar, the newline layout filter, and the frozen AST with spans."""
