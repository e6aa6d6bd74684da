import json

import pytest

from core.config.node import MAINNET, PRESETS, STANDALONE, ConfigError, load_config, parse_genesis_time


def test_presets_carry_spec_values():
    # spec/node.md §1.1
    assert (STANDALONE.layer_duration, STANDALONE.layers_per_epoch, STANDALONE.hrp) == (6.0, 10, "standalone")
    assert (STANDALONE.labels_per_unit, STANDALONE.k1, STANDALONE.k2, STANDALONE.k3) == (64, 12, 4, 1)
    assert STANDALONE.effective_genesis == 19
    assert (STANDALONE.phase_shift, STANDALONE.cycle_gap, STANDALONE.poet_grace_period) == (30.0, 30.0, 12.0)
    assert (MAINNET.phase_shift, MAINNET.cycle_gap) == (240 * 3600.0, 12 * 3600.0)
    assert (MAINNET.layers_per_epoch, MAINNET.tick_size, MAINNET.hrp) == (4032, 9_331_200, "sm")
    assert MAINNET.genesis_id.hex() == "9eebff023abb17ccb775c602daade8ed708f0a50"
    assert PRESETS["testnet"].genesis_id.hex() == "e956eff99be943fb70bd385dd509a3f84e9a75dd"
    for preset in PRESETS.values():
        preset.validate()


def test_standalone_needs_a_genesis_time():
    with pytest.raises(ConfigError, match="genesis time"):
        STANDALONE.genesis_id  # noqa: B018


def test_file_then_flags_override_the_preset(tmp_path):
    path = tmp_path / "node.json"
    path.write_text(json.dumps({"layer-duration": 3, "hdist": 5, "genesis_accounts": {"standalone1abc": 5}}))
    config = load_config("standalone", path, {"hdist": 6, "genesis-time": "2024-01-01T00:00:00Z"})
    assert config.layer_duration == 3.0 and config.hdist == 6
    assert config.genesis_time == 1704067200
    assert config.genesis_accounts == {"standalone1abc": 5}


def test_toml_config(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('layers-per-epoch = 4\nzdist = 1\n')
    config = load_config("devnet", path)
    assert config.layers_per_epoch == 4 and config.effective_genesis == 7
    assert config.phase_shift == config.cycle_gap == 12.0  # half of the shorter epoch


def test_beacon_phases_default_to_a_layer_each_and_at_most_half_an_epoch():
    standalone = load_config("standalone", overrides={"genesis_time": 0})  # 6 s layers, 10 per epoch
    assert standalone.beacon_phases == (6.0, 12.0)
    short = load_config("standalone", overrides={"layers_per_epoch": 2, "layer_duration": 2.0})
    assert short.beacon_phases == (1.0, 2.0)  # a quarter of the 4 s epoch each
    given = load_config(
        "standalone", overrides={"beacon-proposal-duration": 2, "beacon-first-voting-round-duration": 10}
    )
    assert given.beacon_phases == (2.0, 12.0)  # spec §4: upstream standalone's first two phases


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"zdist": 5, "hdist": 2}, "zdist"),
        ({"layer_duration": 0}, "layer-duration"),
        ({"scrypt_n": 3}, "power of two"),
        ({"bogus": 1}, "unknown config key"),
        ({"layers_per_epoch": "ten"}, "invalid value"),
        ({"k2": 1.5}, "invalid value"),
        ({"genesis_time": "tomorrow"}, "genesis time"),
        ({"poet_cycle_gap": 600}, "PoET"),
        ({"beacon_proposal_duration": 30, "beacon_first_voting_round_duration": 25}, "beacon"),  # 60 s epoch
        ({"beacon_proposal_duration": 0}, "beacon"),
    ],
)
def test_invalid_config_fails_with_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config("standalone", overrides=overrides)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("standalone", tmp_path / "missing.json")
    broken = tmp_path / "broken.toml"
    broken.write_text("x = = 1")
    with pytest.raises(ConfigError, match="TOML"):
        load_config("standalone", broken)
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("moonnet")


def test_relative_genesis_time():
    assert parse_genesis_time("now+30s", now=1000.0) == 1030
    assert parse_genesis_time("now+2m", now=1000.0) == 1120
    assert parse_genesis_time("now", now=1000.5) == 1000
    assert parse_genesis_time("1700000000") == 1700000000
