"""Handling ATXs, received or built here, through the one validation path (spec/node.md §2.6).

`AtxHandler.handle_gossip` decodes an ATX from the wire; `handle_own` takes the builder's.  Both:

1. skip an ATX that is already stored (returns None for gossip: nothing to relay), and reject a
   bad signature before anything else;
2. name the dependencies this node lacks (previous, positioning and commitment ATXs, the PoET
   proof) in a `MissingDependencies` error, so the sync layer can fetch them and retry;
3. run `validate_atx` with the real `ProofChecker` in a worker thread (PoST labels are scrypt);
4. store the derived `AtxInfo` and the wire bytes in one transaction, then tell subscribers
   (`on_atx(info)`), so tortoise, beacon and hare can take its weight.

A second ATX of one identity in one publish epoch is malfeasance (spec §2.6 MultipleATXs): both
ATXs are kept as the proof in `malfeasance`, the identity's weight becomes 0 in every epoch
query, subscribers hear `on_malicious(node_id)`, and `Malfeasance` is raised to the caller.
Handling is serialised, so two ATXs of one identity can never both pass the double-publish check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Annotated

from core.activation.atxstore import AtxStore
from core.activation.proofs import PoetProofStore
from core.activation.validation import AtxError, AtxInfo, AtxRules, Malfeasance, ProofChecker, validate_atx
from core.codec import Bytes, Struct, UInt
from core.config.node import NodeConfig
from core.errors import DecodeError
from core.types.atx import ATXV1, EMPTY_ID

log = logging.getLogger("smesh.activation")

MULTIPLE_ATXS = 1  # go-spacemesh malfeasance proof type MultipleATXs
MAX_ATX_SIZE = 1 << 16


class MissingDependencies(AtxError):
    """The ATX refers to ATXs or a PoET proof this node does not hold yet."""

    def __init__(self, atx_ids: tuple[bytes, ...], poet_refs: tuple[bytes, ...]) -> None:
        names = [f"ATX {i.hex()[:16]}" for i in atx_ids] + [f"PoET proof {r.hex()[:16]}" for r in poet_refs]
        super().__init__(f"ATX depends on unknown {', '.join(names)}")
        self.atx_ids, self.poet_refs = atx_ids, poet_refs


class MalfeasanceProof(Struct):
    """Our stored evidence: the kind and both offending ATXs as signed wire bytes (anyone can re-check)."""

    kind: Annotated[int, UInt(8)]
    first: Annotated[bytes, Bytes(MAX_ATX_SIZE)]
    second: Annotated[bytes, Bytes(MAX_ATX_SIZE)]


def atx_rules(config: NodeConfig) -> AtxRules:
    """The network's ATX rules from the node config (spec §1.1 presets)."""
    return AtxRules(
        config.genesis_id, config.golden_atx, config.tick_size, config.labels_per_unit,
        config.min_num_units, config.max_num_units,
    )  # fmt: skip


class AtxHandler:
    """Validates, stores and announces ATXs; one instance per node."""

    def __init__(
        self,
        rules: AtxRules,
        current_epoch: Callable[[], int],
        atxs: AtxStore,
        proofs: ProofChecker,
        poets: PoetProofStore | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.current_epoch = current_epoch
        self.atxs = atxs
        self.proofs = proofs
        self.poets = poets  # for naming a missing PoET proof before the expensive checks
        self.now = now
        self._on_atx: list[Callable[[AtxInfo], None]] = []
        self._on_malicious: list[Callable[[bytes], None]] = []
        self._lock = asyncio.Lock()

    def subscribe(
        self, on_atx: Callable[[AtxInfo], None] | None = None, on_malicious: Callable[[bytes], None] | None = None
    ) -> None:
        """Callbacks run on the event loop after the ATX (or the malfeasance proof) is stored."""
        if on_atx is not None:
            self._on_atx.append(on_atx)
        if on_malicious is not None:
            self._on_malicious.append(on_malicious)

    async def handle_gossip(self, data: bytes) -> AtxInfo | None:
        """An ATX from a peer: its info once stored, None if it was known (do not relay)."""
        try:
            atx = ATXV1.decode(data)
        except (DecodeError, ValueError) as e:
            raise AtxError(f"malformed ATX: {e}") from None
        return await self._handle(atx, bytes(data))

    async def handle_own(self, atx: ATXV1) -> AtxInfo:
        """The builder's ATX: the same checks as a peer's, so we never publish what others reject."""
        info = await self._handle(atx, atx.encode())
        return info if info is not None else self.atxs.get(atx.id)

    # -- steps -------------------------------------------------------------------------------

    async def _handle(self, atx: ATXV1, blob: bytes) -> AtxInfo | None:
        async with self._lock:
            if self.atxs.get(atx.id) is not None:
                return None
            if not atx.verify_signature(self.rules.genesis_id):  # before asking anyone for its dependencies
                raise AtxError("ATX signature does not verify")
            self._check_dependencies(atx)
            try:
                info = await asyncio.to_thread(
                    validate_atx, atx, self.current_epoch(), self.rules, self.atxs, self.proofs
                )
            except Malfeasance as proof:
                self._record_malfeasance(proof, atx, blob)
                raise
            self.atxs.add(info, blob, self.now())
        log.debug("ATX %s of %s stored: epoch %d, weight %d", info.id.hex()[:12], info.node_id.hex()[:12],
                  info.publish_epoch, info.weight)  # fmt: skip
        for callback in self._on_atx:
            callback(info)
        return info

    def _check_dependencies(self, atx: ATXV1) -> None:
        challenge = atx.inner.challenge
        wanted = [challenge.prev_atx_id, challenge.positioning_atx_id, challenge.commitment_atx_id]
        missing = tuple(
            dict.fromkeys(
                i for i in wanted
                if i is not None and i not in (EMPTY_ID, self.rules.golden_atx) and self.atxs.get(i) is None
            )
        )  # fmt: skip
        refs: tuple[bytes, ...] = ()
        nipost = atx.inner.nipost
        if self.poets is not None and nipost is not None and nipost.post_metadata is not None:
            ref = nipost.post_metadata.challenge
            if not self.poets.has(ref):
                refs = (ref,)
        if missing or refs:
            raise MissingDependencies(missing, refs)

    def _record_malfeasance(self, proof: Malfeasance, atx: ATXV1, blob: bytes) -> None:
        first = self.atxs.blob(proof.evidence[0]) or b""
        evidence = MalfeasanceProof(MULTIPLE_ATXS, first, blob).encode()
        if not self.atxs.set_malicious(proof.node_id, evidence, received=self.now()):
            return
        log.warning(
            "identity %s is malicious: %s (ATXs %s and %s)", proof.node_id.hex()[:16], proof.reason,
            proof.evidence[0].hex()[:12], atx.id.hex()[:12],
        )  # fmt: skip
        for callback in self._on_malicious:
            callback(proof.node_id)
