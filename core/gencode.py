"""Comparing checked-in protoc output with a fresh generation, modulo the generator's version stamps.

protoc and grpcio-tools write their own version into every file (`# Protobuf Python Version: X`, the
arguments of `ValidateProtobufRuntimeVersion`, `GRPC_GENERATED_VERSION = 'X'`).  A new patch release of
the generator changes only those lines, so the "checked-in code is current" checks compare the code
with the stamps blanked: they fail when a .proto file and its generated code disagree, not when PyPI
has a newer grpcio-tools.  The runtime floors the stamps imply are pinned in pyproject.toml.
"""

from __future__ import annotations

import re

_STAMPS = (
    (re.compile(rb"^# Protobuf Python Version: .*$", re.M), b"# Protobuf Python Version: -"),
    (re.compile(rb"^GRPC_GENERATED_VERSION = '[^']*'$", re.M), b"GRPC_GENERATED_VERSION = '-'"),
    (
        re.compile(rb"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,"),
        rb"\1 -, -, -,",
    ),
)


def without_version_stamps(code: bytes) -> bytes:
    for pattern, replacement in _STAMPS:
        code = pattern.sub(replacement, code)
    return code


def same_code(a: bytes | None, b: bytes | None) -> bool:
    """Both present and equal once the generator's version stamps are blanked."""
    return a is not None and b is not None and without_version_stamps(a) == without_version_stamps(b)
