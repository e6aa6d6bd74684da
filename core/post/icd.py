"""Make pip-installed OpenCL CPU runtimes visible to pyopencl's ICD loader.

pyopencl's wheels bundle an ocl-icd loader that reads `/etc/OpenCL/vendors` and pyopencl's own `.libs`
folder (where pocl-binary-distribution puts `pocl.icd`).  Intel's CPU runtime from PyPI
(`intel-opencl-rt`) installs `libintelocl.so` into `<prefix>/lib` but its `.icd` file names a conda
build path that does not exist, so no loader finds it.  `register()` writes an `.icd` with the real
path next to pyopencl's.

Why the project wants a second CPU runtime: PoCL 3.0 (the newest pocl-binary-distribution) ships
LLVM 14, which does not know AMD family 1Ah (Zen 5) CPUs; its compiler then fails every kernel with
"unknown target CPU 'generic'".  On such a machine Intel's runtime is the OpenCL CPU device the label
kernel is tested on.  `python -m core.post.icd` runs from the Makefile's venv setup.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RUNTIMES = {"intel-cpu.icd": "libintelocl.so"}  # ICD file name -> library pip puts in <prefix>/lib


def pyopencl_libs() -> Path | None:
    """pyopencl's `.libs` folder, where its bundled loader looks for ICD files; None without pyopencl."""
    spec = importlib.util.find_spec("pyopencl")
    if spec is None or not spec.submodule_search_locations:
        return None
    libs = Path(next(iter(spec.submodule_search_locations))) / ".libs"
    return libs if libs.is_dir() else None


def register(prefix: Path | None = None, libs: Path | None = None) -> list[Path]:
    """Write an ICD file for each runtime installed under prefix/lib; returns the files written."""
    prefix = Path(sys.prefix) if prefix is None else prefix
    libs = pyopencl_libs() if libs is None else libs
    if libs is None:
        return []
    written = []
    for icd_name, library in RUNTIMES.items():
        path = prefix / "lib" / library
        icd = libs / icd_name
        if not path.is_file() or (icd.is_file() and icd.read_text().strip() == str(path)):
            continue
        icd.write_text(f"{path}\n")
        written.append(icd)
    return written


if __name__ == "__main__":
    for icd in register():
        print(f"registered {icd.read_text().strip()} with pyopencl's ICD loader ({icd})")
