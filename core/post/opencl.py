"""OpenCL label backend (pyopencl): one work-item per label, kernel in `scrypt_jane.cl`.

spec/post.md §4.1.  Differences from post-rs's scrypt-ocl, on purpose:
- the scratchpad is split over up to `MAX_BUFFERS` buffers with 64-bit offsets, so the number of labels
  in flight is bounded by the device's global memory, not by CL_DEVICE_MAX_MEM_ALLOC_SIZE (25 % of VRAM
  on NVIDIA);
- while a batch runs the host sleeps most of the expected kernel time instead of spinning in a blocking
  read (NVIDIA's OpenCL busy-waits, post-rs#118);
- an allocation failure halves the batch and retries instead of aborting (post-rs#55).
Programs are built per N (SCRYPT_N and LOOKUP_GAP are compile-time constants) and cached per backend.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import SmeshError

KERNEL_SOURCE = Path(__file__).with_name("scrypt_jane.cl")
MAX_BUFFERS = 8  # the kernel takes V0..V7
DEFAULT_LOOKUP_GAP = 2
OUTPUT_BYTES = 32
GPU_MEMORY_FRACTION = 0.8  # of CL_DEVICE_GLOBAL_MEM_SIZE for scratchpad + output
GPU_RESERVE_BYTES = 256 << 20  # left for the driver, the program and other users
ITEMS_PER_COMPUTE_UNIT = {"gpu": 2048, "opencl-cpu": 64}  # beyond this more items only queue up


class OpenCLError(SmeshError):
    """An OpenCL device that cannot build, allocate for or run the label kernel."""


@dataclass(frozen=True)
class ScratchPlan:
    """How one batch is laid out: `buffers` buffers of `items_per_buffer` work-items each."""

    items_per_buffer: int
    buffers: int
    local_size: int
    lookup_bytes_per_item: int

    @property
    def items(self) -> int:
        return self.items_per_buffer * self.buffers

    @property
    def buffer_bytes(self) -> int:
        return self.items_per_buffer * self.lookup_bytes_per_item


def lookup_bytes_per_item(n: int, lookup_gap: int) -> int:
    """Scratchpad bytes of one work-item: ceil(N / gap) stored 128-byte states."""
    return -(-n // lookup_gap) * 128


def max_items(
    n: int,
    lookup_gap: int,
    *,
    global_mem: int,
    max_alloc: int,
    compute_units: int,
    kind: str,
    local_size: int,
) -> int:
    """The most work-items a batch may hold on a device: memory first, then a parallelism cap.

    Memory: `GPU_MEMORY_FRACTION` of global memory less a reserve, each item needing its scratchpad and
    32 output bytes, in at most MAX_BUFFERS allocations of at most max_alloc bytes.  Parallelism: more
    than `ITEMS_PER_COMPUTE_UNIT` per compute unit only makes batches longer (and, on a CPU device,
    takes host memory for nothing).  A multiple of local_size, at least local_size.
    """
    per_item = lookup_bytes_per_item(n, lookup_gap)
    if per_item * local_size > max_alloc:
        raise OpenCLError(
            f"N={n} needs {per_item * local_size / 2**20:.0f} MiB per work-group, more than the device's "
            f"largest allocation ({max_alloc / 2**20:.0f} MiB)"
        )
    usable = int(global_mem * GPU_MEMORY_FRACTION) - GPU_RESERVE_BYTES
    by_memory = max(usable, 0) // (per_item + OUTPUT_BYTES)
    per_buffer = max_alloc // per_item // local_size * local_size
    by_alloc = per_buffer * MAX_BUFFERS
    by_parallelism = compute_units * ITEMS_PER_COMPUTE_UNIT.get(kind, 2048)
    items = min(by_memory, by_alloc, by_parallelism) // local_size * local_size
    return max(items, local_size)


def plan_scratch(
    n: int,
    lookup_gap: int,
    count: int,
    *,
    max_items_: int,
    max_alloc: int,
    local_size: int,
) -> ScratchPlan:
    """Lay out a batch for `count` labels (capped by max_items_) over as few equal buffers as possible."""
    per_item = lookup_bytes_per_item(n, lookup_gap)
    per_buffer_max = max(max_alloc // per_item // local_size * local_size, local_size)
    wanted = min(max_items_, _round_up(max(count, 1), local_size))
    buffers = min(_ceil_div(wanted, per_buffer_max), MAX_BUFFERS)
    per_buffer = min(_round_up(_ceil_div(wanted, buffers), local_size), per_buffer_max)
    return ScratchPlan(per_buffer, buffers, local_size, per_item)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(a: int, multiple: int) -> int:
    return _ceil_div(a, multiple) * multiple


def device_kind(device) -> str:
    import pyopencl as cl

    return "opencl-cpu" if device.type & cl.device_type.CPU else "gpu"


def device_label(device) -> str:
    """Provider name of an OpenCL device: "[GPU] NVIDIA H100 …" or "[CPU] … (OpenCL)"."""
    name = " ".join(device.name.split())
    if device_kind(device) == "gpu":
        return f"[GPU] {name}"
    return f"[CPU] {name} (OpenCL)"


def opencl_devices() -> list:
    """All OpenCL devices, platform by platform; [] when there is no runtime, ICD or device."""
    try:
        import pyopencl as cl

        platforms = cl.get_platforms()
    except Exception:  # no pyopencl, no ICD loader, no platform: the CPU path still works
        return []
    devices = []
    for platform in platforms:
        try:
            devices.extend(platform.get_devices())
        except Exception:  # a platform without devices raises DEVICE_NOT_FOUND
            continue
    return devices


class OpenCLBackend:
    """`LabelBackend` on one OpenCL device."""

    def __init__(
        self,
        device,
        *,
        lookup_gap: int = DEFAULT_LOOKUP_GAP,
        items_cap: int | None = None,
        max_buffer_bytes: int | None = None,
    ) -> None:
        """items_cap: most labels per batch; max_buffer_bytes: largest scratch buffer (default: device limit)."""
        import pyopencl as cl

        if lookup_gap < 1 or lookup_gap & (lookup_gap - 1):
            raise OpenCLError(f"lookup gap must be a power of two, got {lookup_gap}")
        self.device = device
        self.kind = device_kind(device)
        self.name = device_label(device)
        self.lookup_gap = lookup_gap
        self._items_cap = items_cap
        self._max_alloc = min(device.max_mem_alloc_size, max_buffer_bytes or device.max_mem_alloc_size)
        try:
            self._ctx = cl.Context([device])
            self._queue = cl.CommandQueue(self._ctx)
        except cl.Error as exc:
            raise OpenCLError(f"{self.name}: cannot open the device: {_cl_reason(exc)}") from None
        self._kernels: dict[int, tuple] = {}  # n -> (program, kernel, local size, max items)
        self._scratch: dict[int, tuple] = {}  # n -> (plan, buffers, output buffer)
        self._lock = threading.Lock()
        self._seconds_per_item: dict[int, float] = {}  # n -> last kernel time / global size
        if not device.endian_little:
            raise OpenCLError(f"{self.name}: big-endian devices are not supported")

    # -- program and buffers --------------------------------------------------------------------------

    def _kernel(self, n: int):
        if n in self._kernels:
            return self._kernels[n]
        import pyopencl as cl

        options = [f"-DSCRYPT_N={n}", f"-DLOOKUP_GAP={self.lookup_gap}"]
        try:
            program = _build(cl.Program(self._ctx, KERNEL_SOURCE.read_text()), options)
        except cl.Error as exc:
            raise OpenCLError(f"{self.name}: building the label kernel failed: {build_reason(exc)}") from None
        kernel = program.scrypt_labels
        wg = cl.kernel_work_group_info
        multiple = kernel.get_work_group_info(wg.PREFERRED_WORK_GROUP_SIZE_MULTIPLE, self.device)
        largest = kernel.get_work_group_info(wg.WORK_GROUP_SIZE, self.device)
        local = max(1, min(multiple, largest))
        items = max_items(
            n,
            self.lookup_gap,
            global_mem=self.device.global_mem_size,
            max_alloc=self._max_alloc,
            compute_units=self.device.max_compute_units,
            kind=self.kind,
            local_size=local,
        )
        if self._items_cap:
            items = max(local, min(items, self._items_cap // local * local))
        self._kernels[n] = (program, kernel, local, items)
        return self._kernels[n]

    def work_group_size(self, n: int) -> int:
        """The local size the kernel for N = n runs with (builds the program if needed)."""
        return self._kernel(n)[2]

    def max_batch(self, n: int) -> int:
        """The most labels one kernel launch computes for N = n on this device."""
        return self._kernel(n)[3]

    def batch_plan(self, n: int) -> ScratchPlan | None:
        """The scratch layout of the buffers currently allocated for N = n, if any."""
        cached = self._scratch.get(n)
        return cached[0] if cached else None

    def _buffers(self, n: int, count: int):
        import pyopencl as cl

        _, _, local, items = self._kernel(n)
        cached = self._scratch.get(n)
        want = min(items, _round_up(count, local))
        if cached is not None and cached[0].items >= want:
            return cached
        self._scratch.pop(n, None)  # release before allocating the bigger set
        plan = plan_scratch(
            n, self.lookup_gap, count, max_items_=items, max_alloc=self._max_alloc, local_size=local
        )
        mf = cl.mem_flags
        bufs = [cl.Buffer(self._ctx, mf.READ_WRITE, plan.buffer_bytes) for _ in range(plan.buffers)]
        out = cl.Buffer(self._ctx, mf.WRITE_ONLY, plan.items * OUTPUT_BYTES)
        self._scratch[n] = (plan, bufs, out)
        return self._scratch[n]

    def _shrink(self, n: int) -> bool:
        """After an allocation failure: halve the batch size for n; False when already minimal."""
        program, kernel, local, items = self._kernels[n]
        self._scratch.pop(n, None)
        if items <= local:
            return False
        self._kernels[n] = (program, kernel, local, max(local, items // 2 // local * local))
        return True

    # -- running --------------------------------------------------------------------------------------

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> np.ndarray:
        out = np.empty((count, OUTPUT_BYTES), dtype=np.uint8)
        if count == 0:
            return out
        lanes = [int(v) for v in np.frombuffer(bytes(commitment), dtype="<u8")]
        with self._lock:
            done = 0
            while done < count:
                try:
                    done += self._run_batch(lanes, start + done, out[done:], n)
                except _AllocationFailure as exc:
                    if not self._shrink(n):
                        raise OpenCLError(f"{self.name}: cannot allocate the scratchpad for N={n}: {exc}") from None
        return out

    def _run_batch(self, lanes: list[int], start: int, out: np.ndarray, n: int) -> int:
        import pyopencl as cl

        _, kernel, local, _ = self._kernel(n)
        try:
            plan, bufs, out_buf = self._buffers(n, out.shape[0])
            batch = min(out.shape[0], plan.items)
            global_size = _round_up(batch, local)
            vs = bufs + [bufs[0]] * (MAX_BUFFERS - len(bufs))
            kernel.set_args(
                np.uint64(start),
                np.uint64(batch),
                *(np.uint64(v) for v in lanes),
                out_buf,
                np.uint64(plan.items_per_buffer),
                *vs,
            )
            began = time.perf_counter()
            event = cl.enqueue_nd_range_kernel(self._queue, kernel, (global_size,), (local,))
            self._queue.flush()
            self._wait(event, self._seconds_per_item.get(n, 0.0) * global_size)
            self._seconds_per_item[n] = (time.perf_counter() - began) / global_size
            cl.enqueue_copy(self._queue, out[:batch], out_buf, is_blocking=True)
        except cl.Error as exc:
            if _is_allocation_failure(exc):
                raise _AllocationFailure(_cl_reason(exc)) from None
            raise OpenCLError(f"{self.name}: the label kernel failed: {_cl_reason(exc)}") from None
        return batch

    @staticmethod
    def _wait(event, expected_s: float) -> None:
        """Sleep through most of the expected kernel time, then poll: no busy-waiting host thread."""
        import pyopencl as cl

        complete = cl.command_execution_status.COMPLETE
        if expected_s > 0.05:
            time.sleep(0.9 * expected_s)
        while event.command_execution_status > complete:
            time.sleep(0.001)
        if event.command_execution_status < 0:  # an error code
            event.wait()  # raises the cl.Error


class _AllocationFailure(Exception):
    pass


def _is_allocation_failure(exc) -> bool:
    text = str(exc).upper()
    return any(k in text for k in ("MEM_OBJECT_ALLOCATION_FAILURE", "OUT_OF_RESOURCES", "OUT_OF_HOST_MEMORY"))


def _cl_reason(exc) -> str:
    """A one-line reason from a pyopencl error."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


UNKNOWN_CPU_HINT = (
    " (this OpenCL runtime's compiler does not know the host CPU, as PoCL 3's LLVM 14 does not know Zen 5:"
    " use --provider cpu, or another OpenCL CPU runtime such as `pip install intel-opencl-rt`"
    " then `python -m core.post.icd`)"
)


def build_reason(exc) -> str:
    """The compiler's own error lines from a failed clBuildProgram, on one line.

    pyopencl's message repeats "clBuildProgram failed: BUILD_PROGRAM_FAILURE" and the device before the
    build log; what a user needs is the log's `error:` lines (the first two, deduplicated).
    """
    errors: list[str] = []
    for line in str(exc).splitlines():
        line = " ".join(line.split())
        if "error" in line.lower() and "BUILD_PROGRAM_FAILURE" not in line and line not in errors:
            errors.append(line)
    if not errors:
        return _cl_reason(exc)
    reason = "; ".join(errors[:2])
    if "unknown target CPU" in reason:
        reason += UNKNOWN_CPU_HINT
    return reason


def _build(program, options: list[str]):
    """program.build(options) without pyopencl's CompilerWarning: a compiler's remarks on a build that
    succeeded (Intel's "loop not vectorized") are not the user's business; failures still raise."""
    import pyopencl as cl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cl.CompilerWarning)
        return program.build(options=options)


PROBE_KERNEL = "__kernel void probe(__global uint *out) { out[get_global_id(0)] = 1u; }"


def compiler_problem(device) -> str | None:
    """Why the device's OpenCL compiler cannot build even a one-line kernel, or None when it can.

    Tells a runtime that cannot work on this host (no label kernel will build either) apart from a
    problem in the label kernel itself.
    """
    import pyopencl as cl

    try:
        _build(cl.Program(cl.Context([device]), PROBE_KERNEL), [])
    except cl.Error as exc:
        return f"{device_label(device)}: {build_reason(exc)}"
    return None


__all__ = [
    "OpenCLBackend",
    "OpenCLError",
    "build_reason",
    "compiler_problem",
    "ScratchPlan",
    "device_label",
    "device_kind",
    "lookup_bytes_per_item",
    "max_items",
    "opencl_devices",
    "plan_scratch",
]
