"""Network presets (spec/post.md §1.6) and parameter validation."""

from __future__ import annotations

import pytest

from core.post.params import (
    FASTNET,
    MAINNET,
    PRESETS,
    STANDALONE,
    TESTNET,
    ParamsError,
    check_max_file_size,
    check_nonces,
    check_scrypt_n,
    preset,
)


def test_mainnet_values():
    assert MAINNET.labels_per_unit == 4294967296  # 64 GiB of 16-byte labels
    assert (MAINNET.min_num_units, MAINNET.max_num_units) == (4, 2**32 - 1)
    assert (MAINNET.k1, MAINNET.k2, MAINNET.k3) == (26, 37, 1)
    assert MAINNET.pow_difficulty.hex() == "000dfb23b0979b4b" + "00" * 24
    assert MAINNET.scrypt_n == 8192
    assert MAINNET.max_file_size == 4 * 2**30
    assert MAINNET.nonces == 288
    assert MAINNET.randomx_mode == "fast"


def test_mainnet_k2pow_work_per_unit():
    # spec §1.6: expected work per nonce group = num_units · 2^256 / target = 4687.5 hashes per SU
    target = int.from_bytes(MAINNET.pow_difficulty, "big")
    assert 2**256 / target == pytest.approx(4687.5, rel=1e-4)


def test_small_presets():
    assert (TESTNET.labels_per_unit, TESTNET.min_num_units, TESTNET.k1, TESTNET.k2) == (1024, 2, 26, 37)
    assert (STANDALONE.labels_per_unit, STANDALONE.min_num_units, STANDALONE.max_num_units) == (64, 1, 2)
    assert (STANDALONE.k1, STANDALONE.k2, STANDALONE.k3, STANDALONE.default_num_units) == (12, 4, 1, 1)
    assert (FASTNET.labels_per_unit, FASTNET.scrypt_n, FASTNET.min_num_units, FASTNET.max_num_units) == (128, 2, 2, 4)
    for p in (TESTNET, STANDALONE, FASTNET):
        assert p.pow_difficulty == b"\xff" * 32
    assert STANDALONE.randomx_mode == FASTNET.randomx_mode == "light"


def test_every_preset_is_valid_and_named():
    assert set(PRESETS) == {"mainnet", "testnet", "standalone", "fastnet"}
    for name, p in PRESETS.items():
        p.validate()
        assert preset(name.upper()) is p


def test_unknown_preset():
    with pytest.raises(ParamsError, match="unknown preset 'devnet9'"):
        preset("devnet9")


def test_num_units_range():
    MAINNET.check_num_units(4)
    with pytest.raises(ParamsError, match="below the mainnet minimum of 4"):
        MAINNET.check_num_units(3)
    with pytest.raises(ParamsError, match="above the standalone maximum of 2"):
        STANDALONE.check_num_units(3)
    with pytest.raises(ParamsError, match="at least 1"):
        STANDALONE.check_num_units(0)


def test_overrides_are_validated():
    p = STANDALONE.replace(scrypt_n=16, labels_per_unit=None)
    assert (p.scrypt_n, p.labels_per_unit) == (16, 64)
    with pytest.raises(ParamsError, match="power of two"):
        STANDALONE.replace(scrypt_n=24)
    with pytest.raises(ParamsError, match="multiple of 16"):
        STANDALONE.replace(max_file_size=1030)


@pytest.mark.parametrize("n", [0, 1, 3, 12, 8191])
def test_bad_scrypt_n(n):
    with pytest.raises(ParamsError):
        check_scrypt_n(n)


def test_good_scrypt_n():
    for n in (2, 4, 32, 8192):
        check_scrypt_n(n)


def test_max_file_size_rules():
    check_max_file_size(1024)
    for bad in (1008, 1025, 0):
        with pytest.raises(ParamsError):
            check_max_file_size(bad)


def test_nonces_rules():
    for good in (16, 128, 288, 4096):
        check_nonces(good)
    for bad in (0, 8, 17, 4112):
        with pytest.raises(ParamsError):
            check_nonces(bad)
