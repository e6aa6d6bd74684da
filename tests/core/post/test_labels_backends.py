"""Label backends behind `core.post.labels` (spec/post.md §1.1, §1.2, §4, §5).

Every backend is checked against the spec's vectors and against the pure-Python reference on random
commitments and index ranges (including ranges straddling 2^32 and ending at 2^64 - 1).  OpenCL runs
on whatever device is present (PoCL's CPU device in CI); without one those cases are skipped.
"""

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import SmeshError
from core.post import icd, opencl
from core.post import scrypt_jane as sj
from core.post.labels import (
    LABEL_SIZE,
    PROVIDER_CPU,
    LabelParamsError,
    Provider,
    ProviderError,
    commitment,
    get_backend,
    list_providers,
    scrypt_output,
)

ZERO = bytes(32)
C00 = bytes.fromhex("4d006976636a8696d909a630a4081aad4d7c50f81afdee04020bf05086ab6a55")
POW_COMMITMENT = bytes.fromhex("e26b543725490682675f6f84ea7689601adeaf14caa7024ec1140c82754ca339")

# (commitment, N, first index, consecutive 32-byte outputs) — spec/post.md §5
VECTORS = [
    (ZERO, 8192, 0, ["8c7b34d495266b23799ddaddc2a1836babdd6719c20aca272b42e9d9675ad2b7"]),
    (
        ZERO,
        8192,
        2**32 - 1,
        [
            "7d799ec1f5d94c6a2ad7195b3b5e2191982afba8658add72d376a26636142e22",
            "accf2c97ccd9569f951c4d463176f060e6ec43c19e3c129f79ee27e31109b95e",
        ],
    ),
    (
        C00,
        8192,
        0,
        [
            "13f053790cc908fd17c1ed054ad849d63a3abb394d07bb54872fe91b24c56f46",
            "295086c54f1bc8f10a30e8d9cae70a9badc6c4d4fb7b8b96482625706a6fb4e7",
            "d68893ad77a846956123d7fd6ba50c66057c37a58d8c1cc24dd7b7d1e9d080f3",
            "8ac9de1a686bb923ee4dac19bfba00b9ed650959e48f48df00668665e3ddac1c",
        ],
    ),
    (C00, 8192, 31, ["00d4c22f6fd0f359c56a356561e7eb5a687b7f7124aa53b085dca7e8a5ee7538"]),  # standalone VRF nonce
    (
        C00,
        2,
        0,
        [
            "502009eefb489466fd46f63685e0d1cec99c7821c0a92eb013efba9f2e805abc",
            "018139106d3f53e0dd0ff9cfcf7def98866f5eae6b0cd35592cb4c6c978d7a9d",
        ],
    ),
    (POW_COMMITMENT, 32, 165545, ["00001f81fadfc488b990c940aba8367a97e85cbb5bc0720a308d293b22902a74"]),
]


def _working_opencl() -> tuple[list[Provider], list[str]]:
    """OpenCL providers whose compiler builds a one-line kernel here, and why the others cannot.

    PoCL 3 cannot compile anything on a CPU its LLVM 14 does not know (Zen 5): such a device says so
    for the probe kernel too, so leaving it out cannot hide a fault of the label kernel.
    """
    devices = opencl.opencl_devices()
    working, problems = [], []
    for p in list_providers():
        if p.kind == "cpu":
            continue
        problem = opencl.compiler_problem(devices[p.id])
        (problems if problem else working).append(problem or p)
    return working, problems


OPENCL, OPENCL_PROBLEMS = _working_opencl()
N_DEVICES = len(opencl.opencl_devices())  # provider ids 0 .. N_DEVICES - 1, working or not
COMPILED = [pytest.param("cpu", id="cpu")] + [pytest.param(p.id, id=f"opencl{p.id}") for p in OPENCL]
needs_opencl = pytest.mark.skipif(not OPENCL, reason="no OpenCL device")


def reference(commitment_: bytes, start: int, count: int, n: int) -> list[str]:
    return [sj.label_output(commitment_, start + i, n).hex() for i in range(count)]


def hexrows(out: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in out]


# --- the interface ---------------------------------------------------------------------------------


def test_commitment_vector():
    assert commitment(ZERO, ZERO) == C00


def test_commitment_rejects_bad_sizes():
    with pytest.raises(LabelParamsError):
        commitment(ZERO[:31], ZERO)


def test_scrypt_output_is_the_reference():
    assert scrypt_output(C00, 1, 2).hex() == VECTORS[4][3][1]
    assert scrypt_output(POW_COMMITMENT, 7, 16) == bytes(get_backend("cpu").compute(POW_COMMITMENT, 7, 1, 16)[0])


def test_providers_end_with_the_cpu():
    providers = list_providers()
    assert providers[-1] == Provider(PROVIDER_CPU, "[CPU] scrypt-jane (numba)", "cpu")
    assert [p.id for p in providers[:-1]] == list(range(len(providers) - 1))
    assert all(p.kind in ("gpu", "opencl-cpu") for p in providers[:-1])


def test_providers_without_opencl(monkeypatch):
    import pyopencl

    def no_platform():
        raise pyopencl.LogicError("clGetPlatformIDs failed: PLATFORM_NOT_FOUND_KHR")

    monkeypatch.setattr(pyopencl, "get_platforms", no_platform)
    assert opencl.opencl_devices() == []
    assert list_providers() == [Provider(PROVIDER_CPU, "[CPU] scrypt-jane (numba)", "cpu")]


def test_providers_survive_a_broken_opencl_module(monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(opencl, "opencl_devices", broken)
    assert [p.id for p in list_providers()] == [PROVIDER_CPU]


def test_a_pip_installed_opencl_cpu_runtime_is_registered_and_builds_kernels():
    """The venv's OpenCL CPU runtime (Intel's, from the test extra) is found and compiles here.

    Without this check a broken registration would only skip the OpenCL cases below.
    """
    if not (Path(sys.prefix) / "lib" / "libintelocl.so").is_file():
        pytest.skip("no pip-installed OpenCL CPU runtime in this environment")
    assert any("Intel" in p.name or "OpenCL" in p.name for p in OPENCL), OPENCL_PROBLEMS


def test_build_reason_is_the_compiler_error_with_a_hint():
    # the message pyopencl 2026.1 gives for PoCL 3.0 on an AMD family 1Ah CPU (seen in CI)
    message = (
        "clBuildProgram failed: BUILD_PROGRAM_FAILURE - clBuildProgram failed: BUILD_PROGRAM_FAILURE - "
        "clBuildProgram failed: BUILD_PROGRAM_FAILURE\n\nBuild on <pyopencl.Device 'pthread-AMD EPYC' on "
        "'Portable Computing Language' at 0x55f97f144800>:\n\nerror: unknown target CPU 'generic'\n"
        "Device pthread-AMD EPYC failed to build the program\n\n(options: -DSCRYPT_N=8192 -DLOOKUP_GAP=1)"
    )
    reason = opencl.build_reason(RuntimeError(message))
    assert reason.startswith("error: unknown target CPU 'generic' (this OpenCL runtime's compiler")
    assert "--provider cpu" in reason and "\n" not in reason
    log = "clBuildProgram failed: BUILD_PROGRAM_FAILURE\n<kernel>:3:1: error: use of undeclared identifier 'x'\n"
    assert opencl.build_reason(RuntimeError(log)) == "<kernel>:3:1: error: use of undeclared identifier 'x'"


def test_icd_registration_writes_the_real_library_path(tmp_path):
    prefix, libs = tmp_path / "venv", tmp_path / "libs"
    libs.mkdir()
    assert icd.register(prefix, libs) == []  # nothing installed: nothing written
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "libintelocl.so").write_bytes(b"")
    assert icd.register(prefix, libs) == [libs / "intel-cpu.icd"]
    assert (libs / "intel-cpu.icd").read_text() == f"{prefix / 'lib' / 'libintelocl.so'}\n"
    assert icd.register(prefix, libs) == []  # already registered


def test_cpu_aliases_share_one_backend():
    assert get_backend() is get_backend("cpu") is get_backend(PROVIDER_CPU) is get_backend("CPU")


@pytest.mark.parametrize("bad", ["gpu", "", "-1", -1, N_DEVICES, N_DEVICES + 7, True, 1.0, b"0"])
def test_unknown_provider(bad):
    with pytest.raises(ProviderError) as err:
        get_backend(bad)
    assert isinstance(err.value, SmeshError)
    assert "\n" not in str(err.value) and "provider" in str(err.value)


@pytest.mark.parametrize("provider", ["reference", "cpu"])
@pytest.mark.parametrize(
    "args",
    [
        (C00[:31], 0, 1, 2),
        (C00, 0, 1, 3),
        (C00, 0, 1, 1),
        (C00, 0, 1, 0),
        (C00, -1, 1, 2),
        (C00, 0, -1, 2),
        (C00, 2**64 - 1, 2, 2),
        (C00, 0, 1, True),
        (C00, 0, 1.0, 2),
        (C00, "0", 1, 2),
    ],
)
def test_bad_label_params(provider, args):
    with pytest.raises(LabelParamsError):
        get_backend(provider).compute(*args)


@pytest.mark.parametrize("provider", ["reference", "cpu"])
def test_numpy_integers_accepted(provider):
    out = get_backend(provider).compute(C00, np.uint64(1), np.int64(1), np.int32(2))
    assert hexrows(out) == VECTORS[4][3][1:]


@pytest.mark.parametrize("provider", ["reference", *COMPILED])
def test_empty_range(provider):
    out = get_backend(provider).compute(C00, 5, 0, 16)
    assert out.shape == (0, 32) and out.dtype == np.uint8


def test_reference_backend_vectors():
    out = get_backend("reference").compute(C00, 0, 2, 2)
    assert hexrows(out) == VECTORS[4][3]
    assert hexrows(out[:, :LABEL_SIZE]) == [h[:32] for h in VECTORS[4][3]]


def test_importing_labels_is_cheap():
    code = (
        "import sys, core.post.labels as l; l.commitment(bytes(32), bytes(32)); "
        "print(sorted(m for m in ('numpy', 'numba', 'pyopencl') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


# --- compiled backends: vectors and agreement with the reference ------------------------------------


@pytest.mark.parametrize("provider", COMPILED)
@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"N{v[1]}-{v[2]}")
def test_vectors(provider, vector):
    commitment_, n, start, expected = vector
    out = get_backend(provider).compute(commitment_, start, len(expected), n)
    assert out.shape == (len(expected), 32) and out.dtype == np.uint8
    assert hexrows(out) == expected


@pytest.mark.parametrize("provider", COMPILED)
@pytest.mark.parametrize("n, count", [(2, 37), (16, 21), (512, 3)])
def test_agrees_with_reference(provider, n, count):
    rng = random.Random(f"{provider}/{n}")
    starts = [
        rng.randrange(2**40),
        2**32 - rng.randrange(1, count),  # straddles 2^32: the index's high word changes mid-range
        2**64 - count,  # ends at the last index
    ]
    backend = get_backend(provider)
    for start in starts:
        c = rng.randbytes(32)
        assert hexrows(backend.compute(c, start, count, n)) == reference(c, start, count, n), start


def test_cpu_single_label_in_a_wide_group():
    """count < LANES: unused lanes must not leak into the output."""
    out = get_backend("cpu").compute(POW_COMMITMENT, 165545, 1, 32)
    assert hexrows(out) == VECTORS[5][3]


# --- OpenCL specifics: batching, several scratch buffers, lookup gaps ---------------------------------


def opencl_device():
    return opencl.opencl_devices()[OPENCL[0].id]


@needs_opencl
@pytest.mark.parametrize("gap", [1, 4])
def test_opencl_batches_buffers_and_gaps(gap, monkeypatch):
    """One work-group per scratch buffer, three buffers per batch, three batches per call.

    The per-compute-unit cap (tested on its own below) is lifted: a 2-core CPU device with 128-wide
    work-groups (Intel's) would otherwise hold one work-group per batch.
    """
    monkeypatch.setitem(opencl.ITEMS_PER_COMPUTE_UNIT, "opencl-cpu", 1 << 20)
    local = opencl.OpenCLBackend(opencl_device(), lookup_gap=gap).work_group_size(16)
    per_buffer = local * opencl.lookup_bytes_per_item(16, gap)
    backend = opencl.OpenCLBackend(
        opencl_device(), lookup_gap=gap, items_cap=3 * local, max_buffer_bytes=per_buffer
    )
    rng = random.Random(gap)
    for n, count in ((16, 6 * local + 5), (2, 7)):  # N = 2 < gap 4: fewer stored states than the gap
        c = rng.randbytes(32)
        start = 2**32 - count // 2
        assert hexrows(backend.compute(c, start, count, n)) == reference(c, start, count, n)
    plan = backend.batch_plan(16)
    assert plan.buffers == 3 and plan.items_per_buffer == local and plan.buffer_bytes <= per_buffer


def test_max_items_uses_memory_beyond_max_alloc():
    """An H100-like device: 80 GB, max alloc 25 %: memory, not the single-allocation cap, bounds the batch."""
    items = opencl.max_items(
        8192, 2, global_mem=80 * 10**9, max_alloc=20 * 10**9, compute_units=132, kind="gpu", local_size=32
    )
    per_item = 4096 * 128
    assert items > 20 * 10**9 // per_item * 2
    assert items * (per_item + 32) <= 80 * 10**9
    assert items % 32 == 0


def test_max_items_caps_cpu_devices_by_cores():
    items = opencl.max_items(
        8192, 2, global_mem=4 << 30, max_alloc=1 << 30, compute_units=2, kind="opencl-cpu", local_size=8
    )
    assert items == 128


def test_max_items_rejects_n_beyond_one_allocation():
    with pytest.raises(opencl.OpenCLError):
        opencl.max_items(2**20, 1, global_mem=1 << 40, max_alloc=1 << 30, compute_units=1, kind="gpu", local_size=32)


@pytest.mark.parametrize("count", [1, 31, 33, 5000, 10**6])
def test_plan_scratch(count):
    max_alloc = 1 << 30
    plan = opencl.plan_scratch(8192, 2, count, max_items_=10_000, max_alloc=max_alloc, local_size=32)
    assert plan.items >= min(count, 10_000 // 32 * 32)
    assert plan.items_per_buffer % 32 == 0
    assert plan.buffer_bytes <= max_alloc
    assert plan.buffers <= opencl.MAX_BUFFERS
    assert plan.items - min(count, 10_000) < 32 * plan.buffers  # no more than rounding slack
