"""`smesh completion`: the checked-in scripts are current, they and the runtime agree on the
`_SMESH_COMPLETE` instruction, and real bash completes command prefixes with them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import SMESH, one_error_line

REPO = Path(__file__).resolve().parents[2]
COMPLETIONS = REPO / "completions"
SHELLS = ("bash", "zsh", "fish")


@pytest.mark.parametrize("shell", SHELLS)
def test_checked_in_script_is_current(cli, shell):
    result = cli("completion", shell)
    assert result.rc == 0, result.stderr
    checked_in = COMPLETIONS / f"smesh.{shell}"
    assert checked_in.is_file(), f"missing {checked_in}"
    assert checked_in.read_text() == result.stdout, (
        f"completions/smesh.{shell} is stale: regenerate it with `smesh completion {shell} > completions/smesh.{shell}`"
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_script_sends_the_instruction_the_runtime_understands(shell):
    text = (COMPLETIONS / f"smesh.{shell}").read_text()
    assert f"_SMESH_COMPLETE=complete_{shell}" in text
    assert f"={shell}_complete" not in text  # click's spelling, which typer refuses


def complete(instruction: str, words: str, cword: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "_SMESH_COMPLETE": instruction, "COMP_WORDS": words, "COMP_CWORD": cword}
    return subprocess.run([str(SMESH)], capture_output=True, text=True, env=env, timeout=30)


def test_runtime_answers_each_shell():
    bash = complete("complete_bash", "smesh tx s", "2")
    assert bash.returncode == 0 and bash.stdout.split() == ["plain,spawn", "plain,spend", "plain,sign", "plain,send", "plain,status"]
    zsh = complete("complete_zsh", "smesh tx sp", "2")
    kind, value, description = zsh.stdout.splitlines()[:3]  # zsh gets descriptions too
    assert (kind, value) == ("plain", "spawn") and description.startswith("Self-spawn a wallet account")
    fish = complete("complete_fish", "smesh ledger ", "")
    assert "plain,emulate\t" in fish.stdout
    refused = complete("bash_complete", "smesh tx s", "2")  # what click's unmodified bash script would send
    assert refused.returncode != 0 and refused.stdout == ""


BASH_DRIVER = r"""
source "$1"
shift
for line in "$@"; do
    read -ra COMP_WORDS <<< "$line"
    [[ "$line" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    _smesh_completion smesh
    echo "${COMPREPLY[*]}"
done
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completion():
    prefixes = {
        "smesh w": "wallet",
        "smesh tx s": "spawn spend sign send status",
        "smesh tx spend --n": "--nonce --network",
        "smesh ledger ": "version address emulate",
        "smesh wallet create --l": "--ledger",
        "smesh completion ": "bash zsh fish",
        "smesh tx spend --to ": "",  # a free-text value: nothing to offer
    }
    env = {**os.environ, "PATH": f"{SMESH.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "driver", str(COMPLETIONS / "smesh.bash"), *prefixes],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == list(prefixes.values())


def test_source_instruction_prints_the_same_script_once_registered(monkeypatch):
    import click.shell_completion as sc

    from cli.commands.completion import register, script

    monkeypatch.setattr(sc, "_available_shells", dict(sc._available_shells))
    register()
    for shell in SHELLS:
        cls = sc.get_completion_class(shell)
        assert cls.source_template % cls(None, {}, "smesh", "_SMESH_COMPLETE").source_vars() == script(shell)


def test_unknown_shell(smesh):
    result = smesh("completion", "ksh")
    assert result.rc == 2
    assert "ksh" in one_error_line(result)
