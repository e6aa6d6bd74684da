"""Regenerate the checked-in protobuf/gRPC modules from poet.proto with grpcio-tools.

    python -m core.poet.rpc.generate          # rewrite poet_pb2.py and poet_pb2_grpc.py
    python -m core.poet.rpc.generate --check  # exit 1 if the checked-in files are stale

The proto is compiled with the repository root as include path, so the generated gRPC module
imports `core.poet.rpc.poet_pb2` and works inside the package.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from core.gencode import same_code

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PROTO = HERE / "poet.proto"
OUTPUTS = ("poet_pb2.py", "poet_pb2_grpc.py")


def generate() -> dict[str, bytes]:
    """Compile poet.proto in a scratch directory; returns {file name: content}."""
    try:
        from importlib.resources import files

        from grpc_tools import protoc
    except ImportError:
        raise SystemExit("grpcio-tools is not installed: pip install grpcio-tools") from None
    well_known = str(files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory() as out:
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{ROOT}",
                f"-I{well_known}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                str(PROTO.relative_to(ROOT)),
            ]
        )
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        generated = Path(out) / PROTO.parent.relative_to(ROOT)
        return {name: (generated / name).read_bytes() for name in OUTPUTS}


def stale_files() -> list[str]:
    """Checked-in outputs that differ from a fresh generation (beyond version stamps, core/gencode.py)."""
    fresh = generate()
    return [
        name for name, data in fresh.items()
        if not same_code(data, (HERE / name).read_bytes() if (HERE / name).is_file() else None)
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        stale = stale_files()
        if stale:
            print(f"stale generated files: {', '.join(stale)} (run python -m core.poet.rpc.generate)", file=sys.stderr)
            return 1
        print("generated files are current")
        return 0
    if args:
        print("usage: python -m core.poet.rpc.generate [--check]", file=sys.stderr)
        return 2
    for name, data in generate().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
