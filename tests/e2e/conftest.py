"""Fixtures for end-to-end tests of the `smesh` executable.

Two ways to drive the CLI:
- `smesh(...)` runs the real console script as a subprocess (exit codes, stderr, tracebacks);
- `cli(...)` calls `cli.main.run` in-process with captured output (faster; stdout and exit code).

Every test gets a private wallet directory and HOME, so nothing touches ~/.spacemesh.  Wallet files
cost ~0.3 s to create or open (PBKDF2, 210000 iterations), so the K2 wallet of spec/wallet.md §5.1
is made once per session and copied where a test needs to change it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.core.tx.test_vectors import K2_MNEMONIC
from tests.e2e.helpers import PASSWORD, Result, run_smesh


@dataclasses.dataclass(frozen=True)
class K2Wallet:
    """The spec's K2 wallet (mnemonic of §5.1) with accounts 0 (K2) and 1 (K2b)."""

    file: Path
    password_file: Path
    password: str
    mnemonic: str

    def args(self) -> list[str]:
        return ["--file", str(self.file), "--password-file", str(self.password_file)]

    def copy_to(self, directory: Path) -> Path:
        target = directory / "k2_copy.json"
        shutil.copy2(self.file, target)
        os.chmod(target, 0o600)
        return target


@pytest.fixture(autouse=True)
def wallet_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private wallet directory and HOME for every test; no password in the environment."""
    directory = tmp_path / "wallets"
    directory.mkdir()
    monkeypatch.setenv("SMESH_WALLET_DIR", str(directory))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SMESH_WALLET_PASSWORD", raising=False)
    return directory


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e_session")


@pytest.fixture(scope="session")
def password_file(session_dir: Path) -> Path:
    path = session_dir / "password"
    path.write_text(PASSWORD + "\n")  # the trailing newline is not part of the password
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def session_env(session_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SMESH_WALLET_DIR"] = str(session_dir / "wallets")
    env["HOME"] = str(session_dir)
    return env


@pytest.fixture(scope="session")
def k2(session_dir: Path, session_env: dict[str, str], password_file: Path) -> K2Wallet:
    mnemonic_file = session_dir / "k2.txt"
    mnemonic_file.write_text(K2_MNEMONIC)
    file = session_dir / "k2.json"
    result = run_smesh(
        ["wallet", "import", "--mnemonic-file", mnemonic_file, "--password-file", password_file,
         "--accounts", "2", "--file", file],
        env=session_env,
    )
    assert result.rc == 0, result.stderr
    return K2Wallet(file, password_file, PASSWORD, K2_MNEMONIC)


@pytest.fixture
def smesh() -> Callable[..., Result]:
    """Run the real executable with the test's environment: `smesh("wallet", "show", ...)`."""

    def call(*args: str | os.PathLike, **kwargs) -> Result:
        return run_smesh(args, **kwargs)

    return call


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `cli.main.run` in-process: `cli("tx", "fee", HEX)` → Result(rc, stdout, stderr)."""
    from cli.main import run
    from cli.state import options

    def call(*args: str | os.PathLike) -> Result:
        # run() reads --debug from argv itself but leaves --json to the app callback, which does not
        # run when parsing fails before a sub-command; start every call from the defaults
        options.json = False
        options.debug = False
        capsys.readouterr()
        rc = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(rc, out, err)

    return call
