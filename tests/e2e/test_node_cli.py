"""`smesh node run` refuses bad flags with one line, before creating anything on disk."""

import pytest

from tests.e2e.helpers import one_error_line, run_smesh


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--preset", "moonnet"], "unknown preset"),
        (["--genesis-time", "tomorrow"], "genesis time"),
        (["--account", "foo=bar"], "address"),
        (["--coinbase", "sm1bad"], "bech32"),
        (["--units", "9"], "--units"),
    ],
)
def test_bad_flags_create_nothing(tmp_path, flags, message):
    data_dir = tmp_path / "node"
    result = run_smesh(["node", "run", "--data-dir", data_dir, "--genesis-time", "now+60s", *flags])
    assert message in one_error_line(result)
    assert result.rc == 2
    assert not data_dir.exists()
