"""The VM: applies blocks of transactions and rewards to account state (spec/node.md §7)."""
