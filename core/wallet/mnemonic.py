"""BIP-39 mnemonics as smcli and smapp use them (spec/wallet.md §1.1).

The wordlist, checksum and seed stretching come from the PyPI `mnemonic` library; this module adds
the strictness smcli applies on input: a phrase is trimmed, then must already be in canonical form
(words joined by single spaces), and only then are its words and checksum checked.  Only the English
wordlist is used: it is the only one Spacemesh tools accept.
"""

from __future__ import annotations

from functools import lru_cache

from mnemonic import Mnemonic

from core.errors import InvalidInput, MnemonicError

#: Word counts BIP-39 defines; each maps to 32 × words / 3 bits of entropy.
VALID_WORD_COUNTS: tuple[int, ...] = (12, 15, 18, 21, 24)

#: smcli generates 24 words (256-bit entropy); smapp offers 12 or 24.
DEFAULT_WORD_COUNT = 24


@lru_cache(maxsize=1)
def _english() -> Mnemonic:
    return Mnemonic("english")


@lru_cache(maxsize=1)
def _wordset() -> frozenset[str]:
    return frozenset(_english().wordlist)


def generate_mnemonic(words: int = DEFAULT_WORD_COUNT) -> str:
    """Return a fresh random English BIP-39 phrase of `words` words (12, 15, 18, 21 or 24)."""
    if isinstance(words, bool) or not isinstance(words, int) or words not in VALID_WORD_COUNTS:
        raise InvalidInput(f"a mnemonic has 12, 15, 18, 21 or 24 words, not {words!r}")
    return _english().generate(strength=words * 32 // 3)


def validate_mnemonic(phrase: str) -> str:
    """Check `phrase` the way smcli does and return it in canonical form.

    Surrounding whitespace is trimmed; inside, the words must be separated by exactly one space
    (a tab, newline or double space is a "whitespace violation", as in smcli).  Then every word must
    be in the English wordlist, the count must be one BIP-39 allows and the checksum must match.
    """
    if not isinstance(phrase, str):
        raise MnemonicError("a mnemonic phrase must be text")
    trimmed = phrase.strip()
    words = trimmed.split()
    if not words:
        raise MnemonicError("empty mnemonic phrase")
    canonical = " ".join(words)
    if trimmed != canonical:
        raise MnemonicError("whitespace violation in mnemonic phrase")
    wordset = _wordset()
    for position, word in enumerate(words, start=1):
        if word not in wordset:
            raise MnemonicError(f"invalid mnemonic: unknown word {word!r} (word {position})")
    if len(words) not in VALID_WORD_COUNTS:
        raise MnemonicError(
            f"invalid mnemonic: wrong word count {len(words)} (expected 12, 15, 18, 21 or 24)"
        )
    if not _english().check(canonical):
        raise MnemonicError("invalid mnemonic: bad checksum")
    return canonical


def mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of a valid phrase.

    PBKDF2-HMAC-SHA512(phrase, "mnemonic" + passphrase, 2048 rounds).  smcli and smapp always use
    an empty passphrase; a non-empty one gives keys neither tool can reproduce.  The phrase is
    validated first (see `validate_mnemonic`), so a typo never silently yields another wallet.
    """
    canonical = validate_mnemonic(phrase)
    if not isinstance(passphrase, str):
        raise InvalidInput("a BIP-39 passphrase must be text")
    return _english().to_seed(canonical, passphrase)
