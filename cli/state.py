"""Options that apply to every command (`smesh --json --debug ...`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class GlobalOptions:
    json: bool = False
    debug: bool = False


options = GlobalOptions()
