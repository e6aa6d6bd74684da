"""The SQLite mesh store: schema, migrations and queries (spec/node.md §8)."""
