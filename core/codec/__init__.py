"""SCALE encoding: the one canonical codec for every wire type (see `core.codec.scale`)."""

from core.codec.scale import *  # noqa: F403 - the package re-exports scale's public names
from core.codec.scale import __all__  # noqa: F401
