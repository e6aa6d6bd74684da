import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import ecvrf
from core.crypto.ecvrf import VRFError, is_valid, proof_to_hash, prove, public_key, verify
from core.errors import SmeshError

# RFC 9381 Appendix B.4, ECVRF-EDWARDS25519-SHA512-ELL2, Examples 19-21:
# (SK, PK, alpha, H, k, pi, beta)
VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "b8066ebbb706c72b64390324e4a3276f129569eab100c26b9f05011200c1bad9",
        "55cbb247af9b8372259a97b2cfec656d78868deb33b203d51b9961c364522400",
        "7d9c633ffeee27349264cf5c667579fc583b4bda63ab71d001f89c10003ab46f"
        "14adf9a3cd8b8412d9038531e865c341cafa73589b023d14311c331a9ad15ff2"
        "fb37831e00f0acaa6d73bc9997b06501",
        "9d574bf9b8302ec0fc1e21c3ec5368269527b87b462ce36dab2d14ccf80c53cc"
        "cf6758f058c5b1c856b116388152bbe509ee3b9ecfe63d93c3b4346c1fbc6c54",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "76ac3ccb86158a9104dff819b1ca293426d305fd76b39b13c9356d9b58c08e57",
        "9565956daeedf376cad61b829b2a4d21ba1b52e9b3e2457477a64630a9711003",
        "47b327393ff2dd81336f8a2ef10339112401253b3c714eeda879f12c509072ef"
        "055b48372bb82efbdce8e10c8cb9a2f9d60e93908f93df1623ad78a86a028d6b"
        "c064dbfc75a6a57379ef855dc6733801",
        "38561d6b77b71d30eb97a062168ae12b667ce5c28caccdf76bc88e093e463598"
        "7cd96814ce55b4689b3dd2947f80e59aac7b7675f8083865b46c89b2ce9cc735",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "13d2a8b5ca32db7e98094a61f656a08c6c964344e058879a386a947a4e189ed1",
        "1fda4077f737098b3f361c33a36cccafd7e9e9b720e1f84011254e25f37eed02",
        "926e895d308f5e328e7aa159c06eddbe56d06846abf5d98c2512235eaa57fdce"
        "35b46edfc655bc828d44ad09d1150f31374e7ef73027e14760d42e77341fe054"
        "67bb286cc2c9d7fde29120a0b2320d04",
        "121b7f9b9aaaa29099fc04a94ba52784d44eac976dd1a3cca458733be5cd090a"
        "7b5fbd148444f17f8daf1fb55cb04b1ae85a626e30a54b4b0f8abf4a43314a58",
    ),
]

# Small-order points of edwards25519 (orders 1, 2, 4, 8).
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
]

SK, PK, ALPHA = (bytes.fromhex(h) for h in VECTORS[1][:3])
PI = bytes.fromhex(VECTORS[1][5])


@pytest.mark.parametrize(("sk", "pk", "alpha", "h", "k", "pi", "beta"), VECTORS)
def test_rfc9381_vectors(sk, pk, alpha, h, k, pi, beta):
    sk, pk, alpha, pi, beta = (bytes.fromhex(x) for x in (sk, pk, alpha, pi, beta))
    assert public_key(sk) == pk
    hashed = ecvrf._encode(ecvrf._encode_to_curve(pk, alpha))
    assert hashed.hex() == h
    assert ecvrf._nonce(ecvrf._expand_secret(sk)[1], hashed) == int.from_bytes(
        bytes.fromhex(k), "little"
    )
    assert prove(sk, alpha) == pi
    assert prove(sk + pk, alpha) == pi  # Go layout: seed ‖ public key
    assert proof_to_hash(pi) == beta
    assert verify(pk, pi, alpha) == beta
    assert is_valid(pk, pi, alpha)


def test_error_type():
    assert issubclass(VRFError, SmeshError)
    with pytest.raises(VRFError, match="^invalid VRF proof$"):
        verify(PK, PI, b"other")


@pytest.mark.parametrize("index", [0, 31, 32, 47, 48, 79])
def test_tampered_proof_fails(index):
    bad = bytearray(PI)
    bad[index] ^= 0x01
    assert not is_valid(PK, bytes(bad), ALPHA)
    with pytest.raises(VRFError):
        verify(PK, bytes(bad), ALPHA)


def test_wrong_alpha_and_key_fail():
    assert not is_valid(PK, PI, ALPHA + b"\x00")
    assert not is_valid(PK, PI, b"")
    other = bytes.fromhex(VECTORS[0][1])
    assert not is_valid(other, PI, ALPHA)


@pytest.mark.parametrize("length", [0, 32, 79, 81, 128])
def test_wrong_proof_length_fails(length):
    pi = (PI * 2)[:length]
    assert not is_valid(PK, pi, ALPHA)
    with pytest.raises(VRFError):
        proof_to_hash(pi)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_public_key_length_fails(length):
    assert not is_valid((PK * 2)[:length], PI, ALPHA)


def test_s_not_reduced_fails():
    s = int.from_bytes(PI[48:], "little")
    bad = PI[:48] + (s + ecvrf.L).to_bytes(32, "little")
    assert not is_valid(PK, bad, ALPHA)
    with pytest.raises(VRFError):
        proof_to_hash(bad)


@pytest.mark.parametrize("encoded", SMALL_ORDER)
def test_small_order_public_key_fails(encoded):
    point = ecvrf._decode(bytes.fromhex(encoded))
    assert point is not None
    assert ecvrf._is_identity(ecvrf._clear_cofactor(point))
    assert not is_valid(bytes.fromhex(encoded), PI, ALPHA)


def test_small_order_public_key_with_forged_proof_fails():
    # With Y and Gamma the identity, U = s*B and V = s*H whatever c is, so anyone could
    # "prove" without a secret; only ECVRF_validate_key (RFC 9381 §5.4.5) stops this.
    identity = bytes.fromhex(SMALL_ORDER[0])
    enc = ecvrf._encode
    h = ecvrf._encode_to_curve(identity, ALPHA)
    k = 12345
    u, v = ecvrf._msm((k, ecvrf._B)), ecvrf._msm((k, h))
    c = ecvrf._challenge(identity, enc(h), identity, enc(u), enc(v))
    forged = identity + c.to_bytes(16, "little") + k.to_bytes(32, "little")
    # The challenge recomputed from the verifier's U and V matches: the forgery is real.
    y = ecvrf._decode(identity)
    gamma, c2, s = ecvrf._decode_proof(forged)
    u2 = ecvrf._msm((s, ecvrf._B), (c2, ecvrf._neg(y)))
    v2 = ecvrf._msm((s, h), (c2, ecvrf._neg(gamma)))
    assert ecvrf._challenge(identity, enc(h), identity, enc(u2), enc(v2)) == c
    assert not is_valid(identity, forged, ALPHA)


@pytest.mark.parametrize(
    "encoded",
    [
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
        "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0, sign 1
        "0200000000000000000000000000000000000000000000000000000000000000",  # not on curve
    ],
)
def test_invalid_point_encodings_rejected(encoded):
    raw = bytes.fromhex(encoded)
    assert ecvrf._decode(raw) is None
    assert not is_valid(raw, PI, ALPHA)
    assert not is_valid(PK, raw + PI[32:], ALPHA)


def test_bad_secret_key():
    with pytest.raises(VRFError):
        prove(b"\x01" * 31, b"")
    with pytest.raises(VRFError):
        public_key("not bytes")  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), alpha=st.binary(max_size=64))
def test_roundtrip(seed, alpha):
    pk = public_key(seed)
    assert pk == bytes(nacl.signing.SigningKey(seed).verify_key)
    pi = prove(seed, alpha)
    assert len(pi) == 80
    beta = verify(pk, pi, alpha)
    assert len(beta) == 64
    assert beta == proof_to_hash(pi)
    assert not is_valid(pk, pi, alpha + b"x")
