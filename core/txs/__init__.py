"""Transaction handling in the node: parsing against account state (`parsed`), the mempool and its state."""
