"""Global behaviour of the `smesh` executable: version, help, usage errors, --debug, --json errors."""

from __future__ import annotations

import json
import re


from tests.e2e.helpers import one_error_line


def test_version(smesh):
    result = smesh("--version")
    assert result.rc == 0
    assert re.fullmatch(r"smesh \d+\.\d+\.\d+\S*\n", result.stdout)
    assert result.stderr == ""


def test_help_lists_groups(smesh):
    result = smesh("--help")
    assert result.rc == 0, result.stderr
    assert re.search(r"^\W*wallet\b", result.stdout, re.MULTILINE)
    assert re.search(r"^\W*tx\b", result.stdout, re.MULTILINE)
    assert "--json" in result.stdout and "--debug" in result.stdout
    assert smesh("-h").stdout == result.stdout


def test_no_arguments_shows_help(smesh):
    result = smesh()
    assert result.rc == 0, result.stderr
    assert "Usage" in result.stdout
    assert re.search(r"^\W*wallet\b", result.stdout, re.MULTILINE)
    assert re.search(r"^\W*tx\b", result.stdout, re.MULTILINE)


def test_group_help(smesh):
    result = smesh("tx", "--help")
    assert result.rc == 0, result.stderr
    for command in ("spawn", "spend", "multisig-spend", "sign", "combine", "decode", "fee"):
        assert re.search(rf"^\W*{command}\b", result.stdout, re.MULTILINE), command
    wallet = smesh("wallet")  # a group without a command shows its help
    assert wallet.rc == 0
    assert "create" in wallet.stdout and "import" in wallet.stdout


def test_unknown_option(smesh):
    result = smesh("--frobnicate")
    assert result.rc == 2
    assert "--frobnicate" in one_error_line(result)
    assert result.stdout == ""


def test_unknown_command_and_sub_option(smesh):
    result = smesh("frobnicate")
    assert result.rc == 2
    assert "frobnicate" in one_error_line(result)
    sub = smesh("tx", "fee", "--frobnicate")
    assert sub.rc == 2
    assert "--frobnicate" in one_error_line(sub)


def test_missing_required_option(smesh):
    result = smesh("tx", "spend", "--to", "sm1qqqqqqrhxcdx9sph8ps4fnynrjl960s0apr49zs9zmfvg", "--amount", "1")
    assert result.rc == 2
    assert "--nonce" in one_error_line(result)


def _wrong_password_args(k2, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong password")
    return ["wallet", "show", "--file", str(k2.file), "--password-file", str(wrong)]


def test_debug_shows_traceback(smesh, k2, tmp_path):
    args = _wrong_password_args(k2, tmp_path)
    plain = smesh(*args)
    one_error_line(plain)
    debug = smesh("--debug", *args)
    assert debug.rc != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "password" in debug.stderr.lower()


def test_json_errors_are_json(smesh, k2, tmp_path):
    result = smesh("--json", *_wrong_password_args(k2, tmp_path))
    assert result.rc != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "password" in json.loads(lines[0])["error"].lower()


def test_in_process_run_does_not_leak_json_mode(capsys):
    """run() may be called many times in one process (tests, a REPL): --json of one call must not stick."""
    from cli.main import run

    assert run(["--json", "tx", "fee", "00" * 3]) != 0
    capsys.readouterr()
    assert run(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:"), err
