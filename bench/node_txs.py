"""Node transaction throughput: ingestion (decode + verify + mempool admit) and block application.

Both figures are printed in tx/s with their ratio to raw ed25519 verifications/s measured in the
same run (PyNaCl over the same signed messages): signature checking is the floor of the work per
transaction, so the ratio says how much the rest costs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from core.mesh.store import MeshStore
from core.tx import build
from core.tx.signing import sign_single
from core.tx.templates import wallet_principal
from core.txs.mempool import Mempool
from core.vm.vm import VM

GENESIS = bytes(range(20))
ACCOUNTS = 200
TXS_PER_ACCOUNT = 10
SMH = 10**9


def setup(store: MeshStore) -> tuple[list[SigningKey], list[bytes]]:
    """Fund and spawn the accounts through the VM (layer 1); return their keys and the spends."""
    keys = [SigningKey(i.to_bytes(4, "big") * 8) for i in range(ACCOUNTS)]
    principals = [wallet_principal(bytes(k.verify_key)) for k in keys]
    store.put_genesis_accounts({p: 1000 * SMH for p in principals})
    spawns = [sign_single(build.wallet_spawn(bytes(k.verify_key)), bytes(k), GENESIS).raw() for k in keys]
    store.apply_layer(VM(GENESIS, 0).apply(store.view(0), 1, spawns), bytes(20))
    spends = [
        sign_single(build.spend(principals[i], principals[(i + 1) % ACCOUNTS], 1000 + n, nonce=n), bytes(k), GENESIS).raw()
        for n in range(1, TXS_PER_ACCOUNT + 1)
        for i, k in enumerate(keys)
    ]
    return keys, spends


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = MeshStore(Path(tmp) / "state.sql")
        keys, spends = setup(store)
        n = len(spends)

        # raw ed25519: verify each spend's signature over genesis ‖ unsigned bytes
        checks = [(keys[i % ACCOUNTS].verify_key, GENESIS + raw[:-64], raw[-64:]) for i, raw in enumerate(spends)]
        start = time.perf_counter()
        for verify_key, message, signature in checks:
            verify_key.verify(message, signature)
        raw_rate = rate(n, time.perf_counter() - start)

        pool = Mempool(GENESIS, store.view(None))
        start = time.perf_counter()
        for raw in spends:
            pool.add(raw, received=0.0)
        ingest_rate = rate(n, time.perf_counter() - start)
        assert len(pool) == n

        start = time.perf_counter()
        outcome = VM(GENESIS, 0).apply(store.view(1), 2, spends)
        store.apply_layer(outcome, bytes(20))
        apply_rate = rate(n, time.perf_counter() - start)
        assert len(outcome.results) == n, outcome.ineffective[:3]
        store.close()

    print(f"{n} wallet spends from {ACCOUNTS} accounts")
    print(f"raw ed25519 verify (PyNaCl)        {raw_rate:9.0f} verifications/s   (baseline)")
    print(f"ingestion: decode+verify+mempool   {ingest_rate:9.0f} tx/s   ratio to baseline {ingest_rate / raw_rate:.2f}")
    print(f"block application: VM + SQLite    {apply_rate:9.0f} tx/s   ratio to baseline {apply_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
