"""The resumable prover: spec vectors end to end, checkpoints, recovery after kill -9, stopping rules,
child processes."""

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import blake3
import pytest

from core.poet import merkle, posw, prover
from core.poet.posw import PoswError
from core.poet.prover import CHECKPOINT_FILE, Prover, layer_file_name, prove

CHALLENGE = b"hello world, this is a challenge"
X = b"prover test statement"
T, DEPTH = 12, 8  # small parameters so that tests stay fast
REPO = Path(__file__).resolve().parents[3]


def small(workdir: Path, statement: bytes = X, **kw) -> Prover:
    return Prover(statement, workdir, t=T, depth=DEPTH, **kw)


def model_layers(statement: bytes, n: int, depth: int) -> tuple[dict[int, list[bytes]], bytes]:
    """Every layer and the root, from hashlib labels and the generic tree."""
    mh = posw.merkle_hash(statement)
    layers: dict[int, list[bytes]] = {}
    tree = merkle.IncrementalTree(mh, on_node=lambda h, j, node: layers.setdefault(h, []).append(node))
    for i in range(n):
        parked = tree.parked_nodes()
        h = hashlib.sha256(statement + i.to_bytes(8, "big") + b"".join(parked)).digest()
        for _ in range(depth - 1):
            h = hashlib.sha256(h).digest()
        tree.add(h)
    return layers, tree.root()


def layer_bytes(workdir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(workdir.glob("layercache_*.bin"))}


@pytest.mark.parametrize(
    ("n", "ref"),
    [
        (150, "afe66a373d87685cda5c2994a2b126f256d163685afa76449ebe98ba284ce87c"),
        (1000, "230ad0a6c863503a233496d280cb3fcb87623cd8cfdde8e6b2c73a791335d90a"),
    ],
)
def test_spec_vectors_at_depth_400(tmp_path, n, ref):
    p = Prover(CHALLENGE, tmp_path)
    assert p.run(max_leaves=n) == n
    proof = p.proof()
    assert proof.leaf_count == n
    assert blake3.blake3(proof.encode()).hexdigest() == ref


def test_layer_files_hold_every_layer(tmp_path):
    n = 333
    p = small(tmp_path)
    p.run(max_leaves=n)
    layers, root = model_layers(X, n, DEPTH)
    files = layer_bytes(tmp_path)
    assert sorted(files) == sorted(layer_file_name(h) for h in range(n.bit_length()))
    for h in range(n.bit_length()):
        assert files[layer_file_name(h)] == b"".join(layers[h]), h
    proof = p.proof()
    assert proof.merkle.root == root
    posw.verify(X, proof, T, depth=DEPTH)


def test_reference_kernel_gives_the_same_files(tmp_path, monkeypatch):
    small(tmp_path / "native").run(max_leaves=200)
    monkeypatch.setattr(prover, "best_kernel", posw.ReferenceKernel)
    slow = small(tmp_path / "ref")
    slow.run(max_leaves=200)
    assert layer_bytes(tmp_path / "ref") == layer_bytes(tmp_path / "native")
    assert slow.proof() == small(tmp_path / "native").proof()


def test_resume_after_a_clean_stop_continues_the_same_tree(tmp_path):
    first = small(tmp_path / "a")
    first.run(max_leaves=300)
    again = small(tmp_path / "a")
    assert again.leaves == 300
    again.run(max_leaves=777)
    small(tmp_path / "b").run(max_leaves=777)
    assert layer_bytes(tmp_path / "a") == layer_bytes(tmp_path / "b")
    assert again.proof() == small(tmp_path / "b").proof()


def test_resume_from_an_older_checkpoint_truncates_and_redoes(tmp_path):
    p = small(tmp_path / "a")
    p.run(max_leaves=500)
    old = (tmp_path / "a" / CHECKPOINT_FILE).read_bytes()
    p.run(max_leaves=901)
    (tmp_path / "a" / CHECKPOINT_FILE).write_bytes(old)  # as if killed after writing more layers
    # a torn write past the end, too
    with open(tmp_path / "a" / layer_file_name(0), "ab") as f:
        f.write(b"\xff" * 13)
    resumed = small(tmp_path / "a")
    assert resumed.leaves == 500
    resumed.run(max_leaves=1200)
    small(tmp_path / "b").run(max_leaves=1200)
    assert layer_bytes(tmp_path / "a") == layer_bytes(tmp_path / "b")


def test_damaged_work_directory_is_refused(tmp_path):
    p = small(tmp_path)
    p.run(max_leaves=101)  # 101 = 0b1100101: layer 0 has a parked node
    layer0 = tmp_path / layer_file_name(0)
    data = layer0.read_bytes()
    layer0.write_bytes(data[:-32])
    with pytest.raises(PoswError, match="holds 100 nodes but the checkpoint needs 101"):
        small(tmp_path).run(max_leaves=200)
    layer0.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(PoswError, match="disagrees with the checkpoint's parked node"):
        small(tmp_path).run(max_leaves=200)
    layer0.write_bytes(data)
    (tmp_path / layer_file_name(2)).unlink()
    with pytest.raises(PoswError, match="missing"):
        small(tmp_path).run(max_leaves=200)
    (tmp_path / CHECKPOINT_FILE).write_text("{not json")
    with pytest.raises(PoswError, match="cannot read the PoSW checkpoint"):
        small(tmp_path)


def test_corrupted_inner_node_gives_no_proof(tmp_path):
    p = small(tmp_path)
    p.run(max_leaves=64)
    layer1 = tmp_path / layer_file_name(1)
    data = bytearray(layer1.read_bytes())
    for k in range(0, len(data), 32):
        data[k] ^= 1  # every node of layer 1: whatever leaves FS opens, a path crosses one
    layer1.write_bytes(bytes(data))
    with pytest.raises(PoswError, match="damaged"):
        p.proof()


def test_other_statement_or_parameters_are_refused(tmp_path):
    small(tmp_path).run(max_leaves=20)
    with pytest.raises(PoswError, match="holds work for statement"):
        small(tmp_path, b"another statement")
    with pytest.raises(PoswError, match="depth"):
        Prover(X, tmp_path, t=T, depth=DEPTH + 1)
    with pytest.raises(PoswError, match="T=12"):
        Prover(X, tmp_path, t=T + 1, depth=DEPTH)


def test_never_stops_before_t_leaves(tmp_path):
    p = small(tmp_path / "deadline")
    assert p.run(deadline=time.time() - 10) == T
    stop = threading.Event()
    stop.set()
    assert small(tmp_path / "stop").run(stop=stop) == T
    assert small(tmp_path / "max").run(max_leaves=3) == T
    assert small(tmp_path / "stop").run(stop=stop) == T  # already there: nothing to add
    with pytest.raises(PoswError, match="a proof needs at least 12"):
        small(tmp_path / "empty").proof()
    with pytest.raises(ValueError, match="deadline"):
        small(tmp_path / "empty").run()


def test_deadline_stop_and_progress(tmp_path):
    seen: list[int] = []
    p = small(tmp_path / "a")
    n = p.run(deadline=time.time() + 0.3, on_progress=seen.append)
    assert n >= T and p.leaves == n
    assert seen and seen[-1] == n and seen == sorted(seen)
    posw.verify(X, p.proof(), T, depth=DEPTH)

    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    q = small(tmp_path / "b")
    n = q.run(stop=stop)
    timer.join()
    assert n >= T
    assert json.loads((tmp_path / "b" / CHECKPOINT_FILE).read_text())["leaves"] == n


def test_second_prover_on_the_same_directory_is_refused(tmp_path):
    stop = threading.Event()
    running = threading.Event()
    first = small(tmp_path)
    worker = threading.Thread(target=first.run, kwargs={"stop": stop, "on_progress": lambda n: running.set()})
    worker.start()
    try:
        assert running.wait(30)
        with pytest.raises(PoswError, match="another PoSW prover"):
            small(tmp_path).run(max_leaves=50)
        with pytest.raises(PoswError, match="another PoSW prover"):
            first.proof()
    finally:
        stop.set()
        worker.join()
    posw.verify(X, first.proof(), T, depth=DEPTH)


CHILD = """
import sys
from pathlib import Path
from core.poet.prover import Prover
p = Prover(bytes.fromhex(sys.argv[1]), Path(sys.argv[2]), t=12, depth=int(sys.argv[3]), checkpoint_seconds=0.02)
p.run(max_leaves=10**12)
"""


def test_recovers_after_kill_9(tmp_path):
    depth = 64
    work = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-c", CHILD, X.hex(), str(work), str(depth)], cwd=REPO)
    try:
        checkpoint = work / CHECKPOINT_FILE
        for _ in range(3000):
            if checkpoint.exists() and json.loads(checkpoint.read_text())["leaves"] >= 3000:
                break
            assert child.poll() is None, "the prover child died"
            time.sleep(0.01)
        else:
            pytest.fail("the child prover never checkpointed 3000 leaves")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    resumed = Prover(X, work, t=T, depth=depth)
    killed_at = resumed.leaves
    assert killed_at >= 3000
    target = killed_at + 1500
    resumed.run(max_leaves=target)
    fresh = Prover(X, tmp_path / "fresh", t=T, depth=depth)
    fresh.run(max_leaves=target)
    assert layer_bytes(work) == layer_bytes(tmp_path / "fresh")
    proof = resumed.proof()
    assert proof == fresh.proof()
    posw.verify(X, proof, T, depth=depth)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_runs_in_a_child_process(tmp_path, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    ctx = multiprocessing.get_context(method)
    child = ctx.Process(
        target=prove, args=(X, tmp_path / "a", time.time() + 60), kwargs={"t": T, "depth": DEPTH, "max_leaves": 300}
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0
    p = small(tmp_path / "a")
    assert p.leaves == 300
    assert p.proof().merkle.root == model_layers(X, 300, DEPTH)[1]

    # a Prover object can be shipped to children; each run starts from the directory's checkpoint
    q = small(tmp_path / "b")
    stop = ctx.Event()
    stop.set()
    child = ctx.Process(target=q.run, kwargs={"max_leaves": 400, "stop": stop})
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert small(tmp_path / "b").leaves == T  # stopped as soon as it had t leaves
    child = ctx.Process(target=q.run, kwargs={"max_leaves": 400})  # q itself still says 0 leaves
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert q.proof().merkle.root == model_layers(X, 400, DEPTH)[1]
    assert q.leaves == 400
