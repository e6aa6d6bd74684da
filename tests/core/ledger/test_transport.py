"""Device selection, Speculos's TCP framing (both sides), and USB device choice."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from core.errors import InvalidInput
from core.ledger import connect
from core.ledger.apdu import LedgerNotFound, LedgerRejected, LedgerTransportError
from core.ledger.emulator import EmulatedLedger, EmulatorServer
from core.ledger.transport import HidTransport, TcpTransport, open_transport, parse_selector
from tests.core.tx.test_vectors import K2_MNEMONIC, K2_PUB


@pytest.mark.parametrize(
    ("selector", "parsed"),
    [
        ("usb", ("usb", 0)),
        ("usb:2", ("usb", 2)),
        ("USB:1", ("usb", 1)),
        ("tcp:127.0.0.1:40000", ("tcp", ("127.0.0.1", 40000))),
        ("tcp:localhost", ("tcp", ("localhost", 9999))),
        ("tcp:9998", ("tcp", ("127.0.0.1", 9998))),
        ("tcp::9997", ("tcp", ("127.0.0.1", 9997))),
        ("tcp:[::1]:9996", ("tcp", ("::1", 9996))),
    ],
)
def test_parse_selector(selector, parsed):
    assert parse_selector(selector) == parsed


@pytest.mark.parametrize("selector", ["usb:x", "usb:-1", "bluetooth", "tcp:host:99999", "tcp:host:port", "tcp:[::1"])
def test_bad_selectors(selector):
    with pytest.raises(InvalidInput):
        parse_selector(selector)


@pytest.fixture
def server():
    with EmulatorServer(EmulatedLedger(K2_MNEMONIC)) as running:
        yield running


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_emulator_speaks_speculos_framing(server):
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"\x00\x00\x00\x05" + bytes.fromhex("4500000000"))
        (size,) = struct.unpack(">I", _read_exact(sock, 4))
        assert size == 12  # the data only: the status word follows, uncounted
        body = _read_exact(sock, size + 2)
        assert body[-2:] == b"\x90\x00" and body[1:7] == bytes.fromhex("00000000000f")
        sock.sendall(b"\x00\x00\x00\x05" + bytes.fromhex("e000000000"))
        assert _read_exact(sock, 6) == b"\x00\x00\x00\x00\x6e\x00"


def test_tcp_transport_against_emulator(server, monkeypatch):
    transport = TcpTransport(server.host, server.port)
    data, sw = transport.exchange(bytes.fromhex("4500000000"))
    assert sw == 0x9000 and len(data) == 12
    transport.close()
    monkeypatch.setenv("SMESH_LEDGER", server.selector)
    with connect() as app:  # selector from the environment
        assert app.get_public_key("m/44'/540'/0'/0'/0'") == K2_PUB
        server.device.reject = True
        with pytest.raises(LedgerRejected):
            app.get_address("m/44'/540'/0'/0'/0'", confirm=True)


class FakeSpeculos:
    """Records the bytes a client sends and answers with canned bytes."""

    def __init__(self, answer: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.answer = answer
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            head = _read_exact(conn, 4)
            self.received = head + _read_exact(conn, struct.unpack(">I", head)[0])
            conn.sendall(self.answer)
        self.listener.close()


def test_tcp_transport_framing_on_the_wire():
    fake = FakeSpeculos(b"\x00\x00\x00\x03" + b"abc" + b"\x69\x84")
    data, sw = TcpTransport("127.0.0.1", fake.port).exchange(bytes.fromhex("4502000000"))
    fake.thread.join(5)
    assert fake.received == b"\x00\x00\x00\x05" + bytes.fromhex("4502000000")
    assert (data, sw) == (b"abc", 0x6984)


def test_tcp_transport_reply_cut_short():
    fake = FakeSpeculos(b"\x00\x00\x00\x10abc")
    with pytest.raises(LedgerTransportError, match="closed in the middle"):
        TcpTransport("127.0.0.1", fake.port).exchange(bytes.fromhex("4500000000"))


def test_tcp_transport_nobody_listening():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(LedgerNotFound, match=f"tcp:127.0.0.1:{port}"):
        open_transport(f"tcp:127.0.0.1:{port}")


def test_usb_device_choice(monkeypatch):
    import hid

    def devices(path: bytes, interface: int = 0, vendor: int = 0x2C97, usage_page: int = 0) -> dict:
        return {"path": path, "vendor_id": vendor, "interface_number": interface, "usage_page": usage_page}

    found = [devices(b"/b"), devices(b"/a"), devices(b"/a2", interface=1), devices(b"/x", vendor=0x1234),
             devices(b"/c", interface=-1, usage_page=0xFFA0)]
    monkeypatch.setattr(hid, "enumerate", lambda *args: found)
    from core.ledger.transport import ledger_hid_devices

    assert [d["path"] for d in ledger_hid_devices()] == [b"/a", b"/b", b"/c"]
    with pytest.raises(LedgerNotFound, match=r"no Ledger usb:3: 3 connected \(usb:0..usb:2\)"):
        HidTransport(3)
    monkeypatch.setattr(hid, "enumerate", lambda *args: [])
    with pytest.raises(LedgerNotFound, match="no Ledger found on USB"):
        open_transport("usb")


def test_usb_exchange_maps_ledgerblue_results():
    from ledgerblue.commException import CommException

    class FakeDongle:
        def __init__(self, outcome):
            self.outcome = outcome
            self.sent = None

        def exchange(self, apdu, timeout):
            self.sent = bytes(apdu)
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return bytearray(self.outcome)

    transport = HidTransport.__new__(HidTransport)  # no USB device: only the result mapping is under test
    transport.where, transport.timeout = "usb:0", 1.0
    transport.dongle = FakeDongle(b"\x01\x02")
    assert transport.exchange(bytes.fromhex("4500000000")) == (b"\x01\x02", 0x9000)
    assert transport.dongle.sent == bytes.fromhex("4500000000")
    transport.dongle = FakeDongle(CommException("Invalid status 6984", 0x6984, bytearray(b"Unexpected value")))
    assert transport.exchange(b"\x45\x02\x02\x00\x00") == (b"Unexpected value", 0x6984)
    transport.dongle = FakeDongle(CommException("Timeout"))
    with pytest.raises(LedgerTransportError, match="did not answer in time"):
        transport.exchange(b"\x45\x00\x00\x00\x00")
    transport.dongle = FakeDongle(BaseException("Error while writing"))
    with pytest.raises(LedgerTransportError, match="lost the connection"):
        transport.exchange(b"\x45\x00\x00\x00\x00")
