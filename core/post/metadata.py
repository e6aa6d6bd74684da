"""`postdata_metadata.json` (spec/post.md §1.4): read what postcli and post-rs write, write what both read.

Go marshals `shared.PostMetadata` with tab indentation: PascalCase keys in a fixed order, ids as
standard base64, `Nonce`/`NonceValue`/`LastPosition` omitted when unset, `NonceValue` as hex.
post-rs writes the same keys but `null` for unset values and no `NonceValue`; both are accepted.
Writes are atomic (temp file, fsync, rename) with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from pathlib import Path

from core import atomicfile
from core.errors import SmeshError

METADATA_FILE = "postdata_metadata.json"
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


class MetadataError(SmeshError):
    """A metadata file that is missing, unreadable or malformed."""


@dataclasses.dataclass(frozen=True)
class PostMetadata:
    node_id: bytes
    commitment_atx_id: bytes
    labels_per_unit: int
    num_units: int
    max_file_size: int
    nonce: int | None = None
    nonce_value: bytes | None = None  # the 16-byte label at `nonce` (Go only)
    last_position: int | None = None  # where the beyond-the-data VRF search resumes

    def __post_init__(self) -> None:
        for name in ("node_id", "commitment_atx_id"):
            if len(getattr(self, name)) != 32:
                raise MetadataError(f"{name} must be 32 bytes, got {len(getattr(self, name))}")
        for name, top in (("labels_per_unit", U64_MAX), ("num_units", U32_MAX), ("max_file_size", U64_MAX)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                raise MetadataError(f"{name} is out of range: {value!r}")
        for name in ("nonce", "last_position"):
            value = getattr(self, name)
            bad = not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX
            if value is not None and bad:
                raise MetadataError(f"{name} is out of range: {value!r}")

    @property
    def num_labels(self) -> int:
        return self.num_units * self.labels_per_unit

    def replace(self, **changes: object) -> PostMetadata:
        return dataclasses.replace(self, **changes)

    # ---- JSON ----

    def to_dict(self) -> dict:
        """The Go field order; unset optional fields are left out (Go's `omitempty`)."""
        out: dict = {
            "NodeId": base64.b64encode(self.node_id).decode(),
            "CommitmentAtxId": base64.b64encode(self.commitment_atx_id).decode(),
            "LabelsPerUnit": self.labels_per_unit,
            "NumUnits": self.num_units,
            "MaxFileSize": self.max_file_size,
        }
        if self.nonce is not None:
            out["Nonce"] = self.nonce
        if self.nonce_value:
            out["NonceValue"] = self.nonce_value.hex()
        if self.last_position is not None:
            out["LastPosition"] = self.last_position
        return out

    def to_json(self) -> str:
        """Byte-for-byte what Go's `json.MarshalIndent(m, "", "\\t")` gives (no trailing newline)."""
        return json.dumps(self.to_dict(), indent="\t")

    @classmethod
    def from_dict(cls, data: object) -> PostMetadata:
        if not isinstance(data, dict):
            raise MetadataError("metadata is not a JSON object")
        # encoding/json matches keys case-insensitively; serde needs the exact PascalCase
        fields = {str(k).lower(): v for k, v in data.items()}

        def required(key: str) -> object:
            value = fields.get(key.lower())
            if value is None:
                raise MetadataError(f"metadata lacks {key}")
            return value

        def b64(key: str) -> bytes:
            value = required(key)
            if not isinstance(value, str):
                raise MetadataError(f"{key} is not a base64 string")
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise MetadataError(f"{key} is not valid base64") from None
            if len(raw) != 32:
                raise MetadataError(f"{key} must be 32 bytes, got {len(raw)}")
            return raw

        def integer(key: str, optional: bool = False) -> int | None:
            value = fields.get(key.lower())
            if value is None:
                if optional:
                    return None
                raise MetadataError(f"metadata lacks {key}")
            if not isinstance(value, int) or isinstance(value, bool):
                raise MetadataError(f"{key} is not an integer: {value!r}")
            return value

        nonce_value = fields.get("noncevalue")
        if nonce_value is not None:
            if not isinstance(nonce_value, str):
                raise MetadataError("NonceValue is not a hex string")
            try:
                nonce_value = bytes.fromhex(nonce_value)
            except ValueError:
                raise MetadataError("NonceValue is not valid hex") from None
            nonce_value = nonce_value or None
        return cls(
            node_id=b64("NodeId"),
            commitment_atx_id=b64("CommitmentAtxId"),
            labels_per_unit=integer("LabelsPerUnit"),
            num_units=integer("NumUnits"),
            max_file_size=integer("MaxFileSize"),
            nonce=integer("Nonce", optional=True),
            nonce_value=nonce_value,
            last_position=integer("LastPosition", optional=True),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> PostMetadata:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise MetadataError(f"metadata is not valid JSON: {e}") from None
        return cls.from_dict(data)


def metadata_path(datadir: str | os.PathLike) -> Path:
    return Path(datadir) / METADATA_FILE


def exists(datadir: str | os.PathLike) -> bool:
    return metadata_path(datadir).is_file()


def load(datadir: str | os.PathLike) -> PostMetadata:
    """The metadata of the PoST data in `datadir` (a clear error if missing or malformed)."""
    path = metadata_path(datadir)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise MetadataError(f"no {METADATA_FILE} in {datadir}: not a PoST data directory") from None
    except OSError as e:
        raise MetadataError(f"cannot read {path}: {e.strerror}") from None
    try:
        return PostMetadata.from_json(text)
    except MetadataError as e:
        raise MetadataError(f"{path}: {e}") from None


def load_file(path: str | os.PathLike) -> PostMetadata:
    """Metadata from an explicit file path (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        return load(p)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise MetadataError(f"cannot read {p}: {e.strerror}") from None
    try:
        return PostMetadata.from_json(text)
    except MetadataError as e:
        raise MetadataError(f"{p}: {e}") from None


def save(datadir: str | os.PathLike, metadata: PostMetadata) -> Path:
    """Atomically write (or replace) the metadata file, mode 0600."""
    path = metadata_path(datadir)
    try:
        return atomicfile.replace(path, metadata.to_json().encode())
    except OSError as e:
        raise MetadataError(f"cannot write {path}: {e.strerror}") from None
