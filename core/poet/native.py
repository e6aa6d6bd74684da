"""The compiled PoSW kernel: builds `_sha_chain.c` at first use and calls it through ctypes.

The C file is compiled with the system C compiler (`$CC`, else `cc`) into a shared library
cached under the user cache directory (`$SMESH_CACHE_DIR`, else `$XDG_CACHE_HOME/smesh`, else
`~/.cache/smesh`) in `native/`, named by a hash of the source and the build command, so an
edited source is rebuilt and processes of the same machine share one build.  Without a
compiler the prover falls back to the plain-Python reference in `core.poet.posw` (about ten
times slower) and warns once.  `SMESH_POSW_NATIVE=0` forces that fallback.

ctypes releases the GIL during each call, so a batch of leaves never blocks other threads.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = [
    "IMPL_EXTERNAL",
    "IMPL_PORTABLE",
    "IMPL_SHANI",
    "IMPL_NAMES",
    "NativeKernel",
    "layer_offsets",
    "load",
]

SOURCE = Path(__file__).with_name("_sha_chain.c")
CFLAGS = ("-O3", "-fPIC", "-shared", "-fno-strict-aliasing")

IMPL_PORTABLE, IMPL_SHANI, IMPL_EXTERNAL = 0, 1, 2
IMPL_NAMES = {IMPL_PORTABLE: "portable C", IMPL_SHANI: "x86 SHA-NI", IMPL_EXTERNAL: "libcrypto SHA256_Transform"}
PREFERENCE = (IMPL_SHANI, IMPL_EXTERNAL, IMPL_PORTABLE)
DISABLED = ("0", "false", "no", "off")  # values of SMESH_POSW_NATIVE that force the hashlib fallback

_u8p = ctypes.c_char_p
_lock = threading.Lock()
_loaded: NativeKernel | None = None
_load_tried = False
_keepalive: list[ctypes.CDLL] = []  # libcrypto stays loaded while its SHA256_Transform is in use


def layer_offsets(start: int, count: int) -> list[int]:
    """Where each layer's new nodes begin (in nodes) in a batch adding `count` leaves after `start`.

    Layer h gains ((start + count) >> h) - (start >> h) nodes; entry h is the sum over lower
    layers, and the last entry (index 64) is the batch's total node count.
    """
    offsets = [0] * 65
    total = 0
    end = start + count
    for h in range(64):
        offsets[h] = total
        total += (end >> h) - (start >> h)
    offsets[64] = total
    return offsets


class NativeKernel:
    """One loaded build of `_sha_chain.c`, bound to one SHA-256 implementation."""

    def __init__(self, lib: ctypes.CDLL, impl: int, available: tuple[int, ...]) -> None:
        self._lib = lib
        self.impl = impl
        self.available = available
        self.name = f"native ({IMPL_NAMES[impl]})"

    def with_impl(self, impl: int) -> NativeKernel:
        """The same library using another implementation (ValueError if this CPU lacks it)."""
        if impl not in self.available:
            raise ValueError(f"{IMPL_NAMES.get(impl, impl)} is not available here")
        return NativeKernel(self._lib, impl, self.available)

    def sha256(self, message: bytes) -> bytes:
        out = ctypes.create_string_buffer(32)
        self._check(self._lib.posw_sha256(self.impl, bytes(message), len(message), out))
        return out.raw

    def chain(self, digest: bytes, iterations: int) -> bytes:
        """SHA-256 applied `iterations` times to a 32-byte digest."""
        if len(digest) != 32:
            raise ValueError("a chain starts from a 32-byte digest")
        buf = ctypes.create_string_buffer(bytes(digest), 32)
        self._check(self._lib.posw_chain(self.impl, buf, iterations))
        return buf.raw

    def label_hash(self, statement: bytes, data: bytes, depth: int) -> bytes:
        """LH(data) for `statement` (spec/poet.md §1.1)."""
        out = ctypes.create_string_buffer(32)
        self._check(
            self._lib.posw_label_hash(self.impl, bytes(statement), len(statement), bytes(data), len(data), depth, out)
        )
        return out.raw

    def extend(
        self, statement: bytes, depth: int, start: int, parked: bytearray, count: int, out: bytearray
    ) -> list[int]:
        """Add leaves start..start+count-1; see `core.poet.posw.extend_reference` for the contract."""
        offsets = layer_offsets(start, count)
        if len(parked) != 64 * 32:
            raise ValueError("parked must be a 2048-byte buffer")
        if start < 0 or count < 0 or start + count >= 1 << 64:
            raise ValueError("leaf indices must stay below 2^64")
        if len(out) < 32 * offsets[64]:
            raise ValueError(f"output buffer too small: need {32 * offsets[64]} bytes")
        if count == 0:
            return offsets
        parked_c = (ctypes.c_char * len(parked)).from_buffer(parked)
        out_c = (ctypes.c_char * len(out)).from_buffer(out)
        offsets_c = (ctypes.c_uint64 * 64)(*offsets[:64])
        rc = self._lib.posw_extend(
            self.impl, bytes(statement), len(statement), depth, start, count, parked_c, out_c, offsets_c
        )
        del parked_c, out_c  # release the buffer exports so the bytearrays can be resized again
        self._check(rc)
        return offsets

    @staticmethod
    def _check(rc: int) -> None:
        if rc != 0:
            raise ValueError("the native PoSW kernel rejected its arguments (depth must be at least 1)")


# ---------------------------------------------------------------------------------------------
# Building and loading


def cache_dir() -> Path:
    """Where built libraries are kept (created on demand)."""
    base = os.environ.get("SMESH_CACHE_DIR")
    if base:
        return Path(base) / "native"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "smesh" / "native"


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _library_path(directory: Path) -> Path:
    key = hashlib.sha256()
    key.update(SOURCE.read_bytes())
    key.update(repr((_compiler(), CFLAGS, platform.system(), platform.machine())).encode())
    suffix = ".dylib" if platform.system() == "Darwin" else ".so"
    return directory / f"posw-{key.hexdigest()[:20]}{suffix}"


def _build(target: Path) -> None:
    """Compile into a temp file beside `target`, then rename: concurrent builders never clash.

    A compiler too old for the SHA-NI intrinsics gets a second try without them.
    """
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        for extra in ((), ("-DPOSW_NO_SHANI",)):
            cmd = [*_compiler(), *CFLAGS, *extra, "-o", tmp, str(SOURCE)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                break
        else:
            raise OSError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[:2000]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_size, c_u32, c_u64 = ctypes.c_int, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64
    c_void = ctypes.c_void_p
    lib.posw_set_external.argtypes = [c_void]
    lib.posw_set_external.restype = None
    lib.posw_impl_available.argtypes = [c_int]
    lib.posw_impl_available.restype = c_int
    lib.posw_sha256.argtypes = [c_int, _u8p, c_size, c_void]
    lib.posw_sha256.restype = c_int
    lib.posw_chain.argtypes = [c_int, c_void, c_u64]
    lib.posw_chain.restype = c_int
    lib.posw_label_hash.argtypes = [c_int, _u8p, c_size, _u8p, c_size, c_u32, c_void]
    lib.posw_label_hash.restype = c_int
    lib.posw_extend.argtypes = [c_int, _u8p, c_size, c_u32, c_u64, c_u64, c_void, c_void, c_void]
    lib.posw_extend.restype = c_int


def _find_sha256_transform() -> int | None:
    """The address of libcrypto's SHA256_Transform, if a libcrypto with it can be loaded.

    Only on Linux: macOS aborts a process that loads its unversioned system libcrypto.
    """
    if platform.system() != "Linux":
        return None
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"]
    for name in names:
        if not name:
            continue
        try:
            crypto = ctypes.CDLL(name)
            fn = crypto.SHA256_Transform
        except (OSError, AttributeError):
            continue
        _keepalive.append(crypto)
        return ctypes.cast(fn, ctypes.c_void_p).value
    return None


def _open(path: Path) -> NativeKernel:
    lib = ctypes.CDLL(str(path))
    _declare(lib)
    transform = _find_sha256_transform()
    if transform:
        lib.posw_set_external(transform)
    available = tuple(i for i in PREFERENCE if lib.posw_impl_available(i) == 0)
    return NativeKernel(lib, available[0], available)


def _load_uncached() -> NativeKernel:
    """Open the cached build, building it first if needed.

    When the cache cannot be written or its library cannot be loaded (a damaged entry, a
    noexec mount), build into a private temporary directory removed at exit.
    """
    if shutil.which(_compiler()[0]) is None:
        raise OSError(f"no C compiler ({_compiler()[0]!r}; set CC to use another)")
    path = _library_path(cache_dir())
    try:
        if not path.exists():
            _build(path)
        return _open(path)
    except OSError:
        private = Path(tempfile.mkdtemp(prefix="smesh-posw-"))
        atexit.register(shutil.rmtree, private, True)
        path = _library_path(private)
        _build(path)
        return _open(path)


def load() -> NativeKernel | None:
    """The native kernel (building it if needed), or None with a warning when it cannot be built."""
    global _loaded, _load_tried
    with _lock:
        if not _load_tried:
            _load_tried = True
            if os.environ.get("SMESH_POSW_NATIVE", "1") in DISABLED:
                return None
            try:
                _loaded = _load_uncached()
            except (OSError, subprocess.SubprocessError) as exc:
                warnings.warn(
                    f"cannot build the native PoSW kernel ({exc}); falling back to hashlib, about 10x slower",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return _loaded
