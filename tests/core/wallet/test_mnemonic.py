"""BIP-39 handling: smcli's strict whitespace rule, word/checksum errors, seed vector (spec §1.1, §5.1)."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic

from core.errors import InvalidInput, MnemonicError
from core.wallet.mnemonic import generate_mnemonic, mnemonic_to_seed, validate_mnemonic

ABANDON_ABOUT = " ".join(["abandon"] * 11 + ["about"])
K2 = "film theme cheese broken kingdom destroy inch ready wear inspire shove pudding"
TREZOR_SEED = (
    "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c"
    "7a3c4ab7c81b2f001698e7463b04"
)


def test_trezor_seed_vector():
    assert mnemonic_to_seed(ABANDON_ABOUT, "TREZOR").hex() == TREZOR_SEED


def test_seed_is_pbkdf2_with_empty_passphrase_by_default():
    expected = hashlib.pbkdf2_hmac("sha512", K2.encode(), b"mnemonic", 2048, 64)
    assert mnemonic_to_seed(K2) == expected
    assert len(mnemonic_to_seed(K2)) == 64


@pytest.mark.parametrize("words", [12, 15, 18, 21, 24])
def test_generate_gives_valid_phrases_of_requested_length(words):
    phrase = generate_mnemonic(words)
    assert len(phrase.split(" ")) == words
    assert validate_mnemonic(phrase) == phrase


def test_generate_defaults_to_24_words_and_is_random():
    a, b = generate_mnemonic(), generate_mnemonic()
    assert len(a.split()) == 24
    assert a != b


@pytest.mark.parametrize("words", [0, 11, 13, 23, 25, 48, -12, True, "12", 12.0])
def test_generate_rejects_other_word_counts(words):
    with pytest.raises(InvalidInput):
        generate_mnemonic(words)


def test_validate_returns_canonical_phrase():
    assert validate_mnemonic(K2) == K2


@pytest.mark.parametrize("padded", [f"  {K2}", f"{K2}  ", f"\t{K2}\n", f"\n {K2} \r\n"])
def test_surrounding_whitespace_is_trimmed(padded):
    assert validate_mnemonic(padded) == K2


@pytest.mark.parametrize(
    "bad",
    [
        K2.replace(" ", "  ", 1),
        K2.replace(" ", "\t", 1),
        K2.replace(" ", "\n", 1),
        K2.replace(" ", " \n", 1),
        K2.replace(" ", "\u00a0", 1),
        "  " + K2.replace(" ", "   ", 3) + " ",
    ],
)
def test_inner_whitespace_violations_are_rejected(bad):
    with pytest.raises(MnemonicError, match="whitespace violation in mnemonic phrase"):
        validate_mnemonic(bad)


def test_unknown_word_is_named():
    with pytest.raises(MnemonicError, match="unknown word 'flim'"):
        validate_mnemonic(K2.replace("film", "flim"))


def test_uppercase_word_is_unknown():
    with pytest.raises(MnemonicError, match="unknown word"):
        validate_mnemonic(K2.replace("film", "Film"))


def test_bad_checksum():
    with pytest.raises(MnemonicError, match="bad checksum"):
        validate_mnemonic(" ".join(["abandon"] * 12))


@pytest.mark.parametrize("count", [1, 11, 13, 25])
def test_wrong_word_count(count):
    with pytest.raises(MnemonicError, match=f"wrong word count {count}"):
        validate_mnemonic(" ".join(["abandon"] * count))


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_empty_phrase(empty):
    with pytest.raises(MnemonicError, match="empty"):
        validate_mnemonic(empty)


def test_seed_validates_the_phrase_first():
    with pytest.raises(MnemonicError):
        mnemonic_to_seed(K2.replace(" ", "  "))


def test_mnemonic_error_is_invalid_input():
    with pytest.raises(InvalidInput):
        validate_mnemonic("not a mnemonic")


@settings(max_examples=50, deadline=None)
@given(
    entropy=st.sampled_from([16, 20, 24, 28, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    gap=st.sampled_from(["  ", "\t", "\n", " \t "]),
    where=st.integers(min_value=0, max_value=10),
)
def test_any_bip39_phrase_validates_and_broken_spacing_does_not(entropy, gap, where):
    phrase = Mnemonic("english").to_mnemonic(entropy)
    assert validate_mnemonic(phrase) == phrase
    words = phrase.split(" ")
    broken = " ".join(words[: where + 1]) + gap + " ".join(words[where + 1 :])
    with pytest.raises(MnemonicError, match="whitespace violation"):
        validate_mnemonic(broken)
