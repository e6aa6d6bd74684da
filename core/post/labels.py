"""PoST labels behind one interface: providers, backends, the commitment and single-label reference.

spec/post.md §1.1, §1.2, §4.  A label is the first `LABEL_SIZE` bytes of a 32-byte scrypt-jane output;
backends return the full 32 bytes (the VRF-nonce search compares all of them).

Backends:
- "reference": pure Python (`core.post.scrypt_jane`), ~1 s per label at N=8192 — tests, spot checks;
- the CPU pseudo-provider `PROVIDER_CPU` (also None / "cpu"): numba kernel on all cores;
- OpenCL device k (k = 0, 1, … in `list_providers()` order): pyopencl kernel, GPUs and OpenCL CPUs.

numpy, numba and pyopencl are imported only when a backend is made, so importing this module is cheap.
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.errors import InvalidInput, SmeshError
from core.post.scrypt_jane import label_output

if TYPE_CHECKING:
    import numpy

PROVIDER_CPU = 4294967295  # postcli's id of the CPU provider (u32::MAX)
LABEL_SIZE = 16
OUTPUT_SIZE = 32
CPU_PROVIDER_NAME = "[CPU] scrypt-jane (numba)"
_MAX_INDEX = 1 << 64


class ProviderError(SmeshError):
    """A provider id that names no usable label backend."""

    exit_code = 2


class LabelParamsError(InvalidInput):
    """A commitment, index range or N that labels cannot be computed for."""


def commitment(node_id: bytes, commitment_atx_id: bytes) -> bytes:
    """BLAKE3-256(node_id ‖ commitment_atx_id): the 32 bytes every label password starts with."""
    from core.crypto.hashing import hash32

    if len(node_id) != 32 or len(commitment_atx_id) != 32:
        raise LabelParamsError(
            f"node id and commitment ATX id must be 32 bytes each, got {len(node_id)} and {len(commitment_atx_id)}"
        )
    return hash32(node_id, commitment_atx_id)


def check_label_params(commitment_: bytes, start: int, count: int, n: int) -> tuple[bytes, int, int, int]:
    """Validated (commitment, start, count, n) as bytes and ints (numpy integers accepted).

    Raises LabelParamsError unless labels start … start+count-1 can be computed with N = n.
    """
    if not isinstance(commitment_, bytes | bytearray | memoryview) or len(commitment_) != 32:
        raise LabelParamsError("commitment must be 32 bytes")
    n = _integer(n, "scrypt N")
    if n < 2 or n & (n - 1):
        raise LabelParamsError(f"scrypt N must be a power of two >= 2, got {n}")
    start = _integer(start, "start index")
    count = _integer(count, "count")
    if start < 0 or count < 0:
        raise LabelParamsError(f"start index and count must not be negative, got {start} and {count}")
    if start + count > _MAX_INDEX:
        raise LabelParamsError(f"label indices must stay below 2^64, got {start} + {count}")
    return bytes(commitment_), start, count, n


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise LabelParamsError(f"{what} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise LabelParamsError(f"{what} must be an integer, got {value!r}") from None


def scrypt_output(commitment: bytes, index: int, n: int) -> bytes:
    """The full 32-byte scrypt-jane output of one label, by the pure-Python reference (slow, independent)."""
    commitment, index, _, n = check_label_params(commitment, index, 1, n)
    return label_output(commitment, index, n)


class LabelBackend(Protocol):
    name: str

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> numpy.ndarray:
        """uint8 array of shape (count, 32): outputs of indices start … start+count-1; labels = out[:, :16]."""
        ...


@dataclass(frozen=True)
class Provider:
    id: int
    name: str
    kind: str  # "gpu", "opencl-cpu" or "cpu"


CPU_PROVIDER = Provider(PROVIDER_CPU, CPU_PROVIDER_NAME, "cpu")


def list_providers() -> list[Provider]:
    """OpenCL devices as ids 0 … n-1 (all platforms, in order), then the CPU; never fails for lack of OpenCL."""
    try:
        from core.post.opencl import device_kind, device_label, opencl_devices

        providers = [Provider(i, device_label(d), device_kind(d)) for i, d in enumerate(opencl_devices())]
    except Exception:  # a broken OpenCL install must not take the CPU provider down with it
        providers = []
    return [*providers, CPU_PROVIDER]


class ReferenceBackend:
    """Pure-Python backend: one `scrypt_output` per label."""

    name = "[CPU] scrypt-jane (pure Python reference)"
    kind = "reference"

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> numpy.ndarray:
        import numpy as np

        commitment, start, count, n = check_label_params(commitment, start, count, n)
        out = np.empty((count, OUTPUT_SIZE), dtype=np.uint8)
        for i in range(count):
            out[i] = np.frombuffer(label_output(commitment, start + i, n), dtype=np.uint8)
        return out


class _Checked:
    """Validates arguments in front of a compiled backend (the kernels trust their inputs)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.name = inner.name
        self.kind = inner.kind

    @property
    def inner(self):
        return self._inner

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> numpy.ndarray:
        return self._inner.compute(*check_label_params(commitment, start, count, n))


_backends: dict[object, LabelBackend] = {}
_backends_lock = threading.Lock()


BENCHMARK_SCRYPT_N = 8192  # the N that providers are compared at (mainnet's)


def benchmark(provider: int | str | None, seconds: float = 2.0) -> float:
    """Labels per second at N=8192 on one provider: batches grow until one takes a quarter of `seconds`
    (what `smesh post providers --benchmark` and SmesherService.PostSetupProviders report).  Blocking."""
    import time

    backend = get_backend(provider)
    zero = bytes(32)
    backend.compute(zero, 0, 1, BENCHMARK_SCRYPT_N)  # compile / warm up
    count, start = 1, 0
    while True:
        t0 = time.perf_counter()
        backend.compute(zero, start, count, BENCHMARK_SCRYPT_N)
        elapsed = time.perf_counter() - t0
        start += count
        if elapsed >= seconds / 4 or count >= 1 << 22:
            return count / elapsed if elapsed > 0 else 0.0
        count *= 2 if elapsed <= 0 else max(2, min(16, int(seconds / 4 / elapsed) + 1))


def get_backend(provider: int | str | None = None) -> LabelBackend:
    """None / "cpu" / PROVIDER_CPU → numba CPU; "reference" → pure Python; int k → OpenCL device k.

    Backends are made once per provider and reused (they cache compiled programs and scratch buffers).
    """
    key = _provider_key(provider)
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = _make_backend(key)
            _backends[key] = backend
        return backend


def _provider_key(provider: int | str | None) -> object:
    if provider is None:
        return "cpu"
    if isinstance(provider, str):
        text = provider.strip().lower()
        if text in ("cpu", "reference"):
            return text
        if text.isdigit():
            return _provider_key(int(text))
        raise ProviderError(f"unknown provider {provider!r}: use an OpenCL device id, 'cpu' or 'reference'")
    if isinstance(provider, bool) or not isinstance(provider, int):
        raise ProviderError(f"unknown provider {provider!r}: use an OpenCL device id, 'cpu' or 'reference'")
    if provider == PROVIDER_CPU:
        return "cpu"
    return provider


def _make_backend(key: object) -> LabelBackend:
    if key == "reference":
        return ReferenceBackend()
    if key == "cpu":
        from core.post.cpu import NumbaCpuBackend

        return _Checked(NumbaCpuBackend())
    from core.post.opencl import OpenCLBackend, opencl_devices

    devices = opencl_devices()
    if not 0 <= key < len(devices):
        known = ", ".join(str(i) for i in range(len(devices)))
        listing = f"OpenCL devices are {known}" if devices else "no OpenCL device was found"
        raise ProviderError(f"unknown provider {key}: {listing}; the CPU is {PROVIDER_CPU} or 'cpu'")
    return _Checked(OpenCLBackend(devices[key]))
