"""Transaction handling in the node: the mempool and its conservative state."""
