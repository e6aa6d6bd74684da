"""`smesh repl`: driven through a real pseudo-terminal (prompt_toolkit, hidden password prompt,
completion menu, confirmation, spinner) with a Ledger emulated over TCP; and fed from a pipe."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from core.ledger.emulator import EmulatedLedger, EmulatorServer
from tests.core.tx.test_vectors import DEST, GENESIS, K2_MNEMONIC, K2_PUB, SPEND_SIG, SPEND_UNSIGNED
from tests.e2e import independent as ref
from tests.e2e.helpers import PASSWORD, SMESH

SPEND = SPEND_UNSIGNED + SPEND_SIG
K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_=>]|\r")


class Terminal:
    """A process on a pseudo-terminal: `expect` a regex in its screen output (escapes stripped), `type` keys."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True)
        os.close(slave)
        self.raw = b""
        self.seen = 0  # where the next expect starts, in the stripped text

    @property
    def text(self) -> str:
        return _ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.raw += os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def expect(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the terminal; it shows:\n{self.text[self.seen - 200:]}")
            self._read(0.1)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)
        finally:
            os.close(self.master)


@pytest.fixture
def emulator():
    with EmulatorServer(EmulatedLedger(K2_MNEMONIC, delay=0.3)) as server:
        yield server


@pytest.fixture
def ledger_wallet(cli, emulator, wallet_dir, password_file) -> Path:
    file = wallet_dir / "ledgerwallet.json"
    result = cli("wallet", "create", "--ledger", "--device", emulator.selector, "--file", file,
                 "--password-file", password_file)
    assert result.rc == 0, result.stderr
    emulator.device.reviews.clear()
    return file


def test_repl_signs_a_spend_on_the_emulated_ledger(emulator, ledger_wallet, wallet_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SMESH_WALLET_PASSWORD"}
    env.update(SMESH_LEDGER=emulator.selector, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1")
    env.pop("COLUMNS", None)
    term = Terminal([str(SMESH), "repl"], env, tmp_path)
    try:
        term.expect(r"smesh \(mainnet\)>")
        term.type(f"open {ledger_wallet}\r")
        term.expect(r"Wallet password: ")
        term.type(PASSWORD + "\r")
        term.expect(r"opened ledgerwallet\.json: 1 account\(s\), account 0 active")
        term.expect(r"smesh \(ledgerwallet #0 ledger mainnet\)>")  # wallet, account, Ledger, network

        term.type("tx sp\t")  # completion menu, with each command's description
        term.expect(r"spend +Send SMH from a wallet account\.")
        term.type("\x15")  # Ctrl-U: clear the line

        term.type(f"send --to {DEST} --amount 1.5smh --nonce 1\r")
        summary = term.expect(r"(?s)Spend — review.*?Sign this transaction\? \[y/N\]").group(0)
        assert re.search(rf"from +{K2_SM} +\(account 0, m/44'/540'/0'/0'/0', Ledger\)", summary)
        assert re.search(rf"to +{DEST}", summary)
        assert re.search(r"amount +1\.5 SMH \(1500000000 smidge\)", summary)
        # 1.5e9 ≥ 2^30 takes a 5-byte compact: 121 bytes signed, one more 8-byte word than §5.4's 36090 gas
        assert re.search(r"fee +0\.000036218 SMH at most \(36218 gas × 1 smidge\)", summary)
        assert re.search(r"nonce +1\b", summary)
        term.type("y\r")
        term.expect(r"Confirm the transaction on your Ledger")  # the spinner while the device waits
        signed = term.expect(r"\n([0-9a-f]{242})\n").group(1)
        term.expect(r"signed: tx id [0-9a-f]{64} \(121 bytes\)")
        raw = bytes.fromhex(signed)
        assert raw[:-64] == bytes.fromhex(SPEND_UNSIGNED)[:-4] + bytes.fromhex("03002f6859")  # compact(1.5e9)
        assert ref.verify(K2_PUB, GENESIS + raw[:-64], raw[-64:])
        review = emulator.device.reviews[-1]
        assert review.approved and ("Amount", "SMH 1.5") in review.items

        # the wallet stays unlocked: a plain smesh command signs without asking again
        term.type(f"tx spend --to {DEST} --amount 1smh --nonce 1\r")
        term.expect(rf"\n{SPEND}\n")
        term.type("status\r")
        term.expect(rf"address {K2_SM}")
        term.type("exit\r")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            os.killpg(term.proc.pid, signal.SIGKILL)
    assert term.text.count("Wallet password") == 1
    history = wallet_dir / "repl_history"
    assert oct(history.stat().st_mode & 0o777) == "0o600"
    assert f"send --to {DEST} --amount 1.5smh --nonce 1" in history.read_text()
    assert PASSWORD not in history.read_text()


def test_repl_rejection_keeps_the_session(emulator, ledger_wallet, tmp_path, password_file):
    emulator.device.reject = True
    lines = [
        f"open {ledger_wallet} --password-file {password_file}",
        f"send --to {DEST} --amount 1smh --nonce 1 --yes",
        "frobnicate",
        f"tx spend --to {DEST} --amount 1smh --nonce 1",
        "status",
    ]
    result = run_script(lines, tmp_path, SMESH_LEDGER=emulator.selector)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: rejected on the device (0x6986)",
        "error: No such command 'frobnicate'. (see 'smesh --help')",
        "error: rejected on the device (0x6986)",
    ]
    assert f"address {K2_SM}" in result.stdout  # still running, wallet still open


def run_script(lines: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "SMESH_WALLET_PASSWORD"}
    full.update(COLUMNS="1000", NO_COLOR="1", **env)
    return subprocess.run([str(SMESH), "repl"], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=60)


def test_repl_from_a_pipe_with_a_software_wallet(k2, tmp_path):
    lines = [
        f"open {k2.file} --password-file {k2.password_file}",
        "wallet show",  # --file is the open wallet: no password needed
        "use 1 --network testnet",
        "--json wallet address --key " + K2_PUB.hex(),  # --hrp follows the session's network
        "use 0 --network mainnet",
        f"send --to {DEST} --amount 1smh --nonce 1 --yes",
        f"smesh tx spend --to {DEST} --amount 1smh --nonce 1",  # a pasted 'smesh' is dropped
        "repl",
        "exit",
        "wallet address --key " + "07" * 32,  # never reached
    ]
    result = run_script(lines, tmp_path)
    assert result.returncode == 2, result.stderr  # the nested 'repl' refused
    assert result.stdout.count(SPEND) == 2
    assert K2_SM in result.stdout
    assert '"address": "stest1' in result.stdout
    assert "error: already in the smesh shell" in result.stderr
    assert "opened k2.json: 2 account(s), account 0 active" in result.stderr
    assert ref.encode(ref.principal(ref.WALLET, b"\x07" * 32), "sm") not in result.stdout


@pytest.fixture
def fresh_session(monkeypatch):
    from cli.commands import repl

    monkeypatch.setattr(repl, "session", repl.Session())
    return repl


def test_session_defaults_are_added_only_where_they_fit(fresh_session, tmp_path):
    repl = fresh_session
    wallet = tmp_path / "w.json"
    repl.session.wallet_path, repl.session.account, repl.session.network = wallet, 2, "testnet"
    add = repl.with_session_defaults
    assert add(["tx", "spend", "--to", "x"]) == ["tx", "spend", "--to", "x", "--file", str(wallet),
                                                 "--account", "2", "--network", "testnet"]
    assert add(["tx", "spend", "-a", "1", "--file=other.json"]) == ["tx", "spend", "-a", "1", "--file=other.json",
                                                                    "--network", "testnet"]
    assert add(["--json", "wallet", "show"]) == ["--json", "wallet", "show", "--file", str(wallet), "--hrp", "stest"]
    assert add(["wallet", "create"]) == ["wallet", "create"]  # --file there names a new wallet
    assert add(["tx", "decode", "--", "-x"]) == ["tx", "decode", "--hrp", "stest", "--", "-x"]
    assert add(["ledger", "address"]) == ["ledger", "address", "--index", "2", "--hrp", "stest"]
    assert add(["frobnicate"]) == ["frobnicate"]
    repl.session.wallet_path, repl.session.ledger, repl.session.device = None, True, "tcp:127.0.0.1:1"
    assert add(["tx", "spawn"]) == ["tx", "spawn", "--ledger", "--account", "2", "--network", "testnet",
                                    "--device", "tcp:127.0.0.1:1"]  # no wallet: the key comes from the device


def test_prompt_shows_wallet_account_and_network(fresh_session, tmp_path):
    repl = fresh_session
    assert repl.session.prompt() == "smesh (mainnet)> "
    repl.session.ledger, repl.session.account = True, 3
    assert repl.session.prompt() == "smesh (ledger #3 mainnet)> "
