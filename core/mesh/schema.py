"""SQLite schemas of the mesh store (spec/node.md §8), as ordered migrations.

`state.sql` holds consensus data any node could share; `local.sql` what only this node knows.
Each database records its version in `PRAGMA user_version`; opening runs the migrations it has
not seen yet, each in one transaction.  Never edit a released migration: append a new one.
"""

from __future__ import annotations

STATE_MIGRATIONS: tuple[str, ...] = (
    # 1: the tables the node uses
    """
    CREATE TABLE layers (
        id INTEGER PRIMARY KEY,
        weak_coin INTEGER,
        processed INTEGER NOT NULL DEFAULT 0,
        applied_block BLOB,
        state_hash BLOB,
        aggregated_hash BLOB
    );
    CREATE TABLE blocks (
        id BLOB PRIMARY KEY,
        layer INTEGER NOT NULL,
        validity INTEGER,
        block BLOB NOT NULL
    );
    CREATE INDEX blocks_by_layer ON blocks (layer, id);
    CREATE TABLE block_transactions (
        tid BLOB NOT NULL,
        bid BLOB NOT NULL,
        layer INTEGER NOT NULL,
        PRIMARY KEY (tid, bid)
    );
    CREATE TABLE ballots (
        id BLOB PRIMARY KEY,
        atx BLOB NOT NULL,
        layer INTEGER NOT NULL,
        pubkey BLOB NOT NULL,
        ballot BLOB NOT NULL
    );
    CREATE INDEX ballots_by_layer_pubkey ON ballots (layer, pubkey);
    CREATE INDEX ballots_by_atx_layer ON ballots (atx, layer);
    CREATE TABLE certificates (
        layer INTEGER NOT NULL,
        block BLOB NOT NULL,
        cert BLOB,
        valid INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (layer, block)
    );
    CREATE TABLE atxs (
        id BLOB PRIMARY KEY,
        epoch INTEGER NOT NULL,
        effective_num_units INTEGER NOT NULL,
        commitment_atx BLOB,
        nonce INTEGER,
        base_tick_height INTEGER NOT NULL,
        tick_count INTEGER NOT NULL,
        sequence INTEGER NOT NULL,
        pubkey BLOB NOT NULL,
        coinbase BLOB NOT NULL,
        received INTEGER NOT NULL,
        validity INTEGER NOT NULL DEFAULT 0,
        weight INTEGER NOT NULL
    );
    CREATE INDEX atxs_by_epoch ON atxs (epoch, id);
    CREATE INDEX atxs_by_pubkey_epoch ON atxs (pubkey, epoch DESC);
    CREATE TABLE atx_blobs (id BLOB PRIMARY KEY, atx BLOB NOT NULL, version INTEGER NOT NULL DEFAULT 1);
    CREATE TABLE activesets (id BLOB PRIMARY KEY, active_set BLOB NOT NULL, epoch INTEGER NOT NULL);
    CREATE TABLE beacons (epoch INTEGER PRIMARY KEY, beacon BLOB NOT NULL);
    CREATE TABLE poets (ref BLOB PRIMARY KEY, poet BLOB NOT NULL, service_id BLOB, round_id TEXT);
    CREATE TABLE malfeasance (
        pubkey BLOB PRIMARY KEY,
        received INTEGER NOT NULL,
        domain INTEGER NOT NULL,
        proof BLOB NOT NULL
    );
    CREATE TABLE transactions (
        id BLOB PRIMARY KEY,
        tx BLOB NOT NULL,
        header BLOB,
        result BLOB,
        layer INTEGER,
        block BLOB,
        principal BLOB NOT NULL,
        nonce INTEGER NOT NULL,
        timestamp INTEGER NOT NULL
    );
    CREATE INDEX transactions_by_principal_nonce ON transactions (principal, nonce);
    CREATE INDEX transactions_by_layer ON transactions (layer);
    CREATE TABLE transactions_results_addresses (address BLOB NOT NULL, tid BLOB NOT NULL, PRIMARY KEY (address, tid));
    CREATE TABLE proposal_transactions (tid BLOB NOT NULL, pid BLOB NOT NULL, layer INTEGER NOT NULL,
        PRIMARY KEY (tid, pid));
    CREATE TABLE accounts (
        address BLOB NOT NULL,
        balance INTEGER NOT NULL,
        next_nonce INTEGER NOT NULL,
        layer_updated INTEGER NOT NULL,
        template BLOB,
        state BLOB NOT NULL,
        PRIMARY KEY (address, layer_updated DESC)
    );
    CREATE TABLE rewards (
        pubkey BLOB NOT NULL,
        coinbase BLOB NOT NULL,
        layer INTEGER NOT NULL,
        total_reward INTEGER NOT NULL,
        layer_reward INTEGER NOT NULL,
        PRIMARY KEY (pubkey, layer)
    );
    CREATE INDEX rewards_by_coinbase ON rewards (coinbase, layer);
    """,
)

LOCAL_MIGRATIONS: tuple[str, ...] = (
    # 1: the node's own activation state
    """
    CREATE TABLE post (
        id BLOB PRIMARY KEY,
        post_nonce INTEGER NOT NULL,
        post_indices BLOB NOT NULL,
        post_pow INTEGER NOT NULL,
        num_units INTEGER NOT NULL,
        commit_atx BLOB NOT NULL,
        vrf_nonce INTEGER NOT NULL,
        challenge BLOB NOT NULL
    );
    CREATE TABLE challenge (
        id BLOB PRIMARY KEY,
        epoch INTEGER NOT NULL,
        sequence INTEGER NOT NULL,
        prev_atx BLOB NOT NULL,
        pos_atx BLOB NOT NULL,
        commit_atx BLOB,
        post_nonce INTEGER,
        post_indices BLOB,
        post_pow INTEGER
    );
    CREATE TABLE poet_registration (
        id BLOB NOT NULL,
        hash BLOB NOT NULL,
        address TEXT NOT NULL,
        round_id TEXT NOT NULL,
        round_end INTEGER NOT NULL,
        PRIMARY KEY (id, address)
    );
    CREATE TABLE nipost (
        id BLOB PRIMARY KEY,
        epoch INTEGER NOT NULL,
        post_nonce INTEGER NOT NULL,
        post_indices BLOB NOT NULL,
        post_pow INTEGER NOT NULL,
        num_units INTEGER NOT NULL,
        vrf_nonce INTEGER NOT NULL,
        poet_proof_membership BLOB NOT NULL,
        poet_proof_ref BLOB NOT NULL,
        labels_per_unit INTEGER NOT NULL
    );
    CREATE TABLE prepared_activeset (
        kind INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        id BLOB NOT NULL,
        weight INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (kind, epoch)
    );
    CREATE TABLE node_state (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    """,
)
