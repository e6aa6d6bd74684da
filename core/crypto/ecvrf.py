"""ECVRF-EDWARDS25519-SHA512-ELL2 (RFC 9381, suite_string 0x04).

A VRF is a keyed hash whose output (beta) anyone holding the public key can check against a
proof (pi), while only the secret key holder can produce it.  Spacemesh uses this suite for
eligibility proofs, so proofs and outputs here must match the RFC byte for byte.

Everything is plain integer arithmetic over GF(2^255 - 19) on extended twisted Edwards
coordinates (RFC 8032 §5.1.4), whose addition law is complete on edwards25519: identity and
small-order points need no special cases, which libsodium's point helpers would reject.
Keys are ed25519 keys: the 32-byte RFC 8032 seed, or the 64-byte Go layout seed ‖ public key.
"""

from __future__ import annotations

import hashlib

from core.errors import SmeshError

__all__ = ["VRFError", "is_valid", "proof_to_hash", "prove", "public_key", "verify"]


class VRFError(SmeshError):
    """A VRF proof, key or input that is malformed or does not verify."""


# --- suite parameters (RFC 9381 §5.5) -------------------------------------------------------

SUITE = b"\x04"
_H2C_SUITE_ID = b"edwards25519_XMD:SHA-512_ELL2_NU_"
_DST = b"ECVRF_" + _H2C_SUITE_ID + SUITE
_C_LEN, _PT_LEN, _Q_LEN = 16, 32, 32
PROOF_SIZE = _PT_LEN + _C_LEN + _Q_LEN
OUTPUT_SIZE = 64
_COFACTOR_DOUBLINGS = 3  # cofactor 8

# --- field and curve (RFC 8032 §5.1) ---------------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # q, the prime subgroup order
_D = -121665 * pow(121666, -1, P) % P
_D2 = 2 * _D % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)
_J = 486662  # curve25519 Montgomery A (K = 1)

Point = tuple[int, int, int, int]  # extended (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z
_IDENTITY: Point = (0, 1, 1, 0)


def _sqrt(a: int) -> int | None:
    """A square root of a mod p, or None (p = 5 mod 8, RFC 8032 §5.1.3 step 3)."""
    r = pow(a, (P + 3) // 8, P)
    r2 = r * r % P
    if r2 == a % P:
        return r
    if r2 == -a % P:
        return r * _SQRT_M1 % P
    return None


def _add(p1: Point, p2: Point) -> Point:
    """Unified addition, RFC 8032 §5.1.4 (complete on edwards25519)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * _D2 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(p1: Point) -> Point:
    """Doubling, RFC 8032 §5.1.4."""
    x1, y1, z1, _ = p1
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1) % P
    g = a - b
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _neg(p1: Point) -> Point:
    x, y, z, t = p1
    return -x % P, y, z, -t % P


def _is_identity(p1: Point) -> bool:
    x, y, z, _ = p1
    return x % P == 0 and (y - z) % P == 0


def _clear_cofactor(p1: Point) -> Point:
    for _ in range(_COFACTOR_DOUBLINGS):
        p1 = _double(p1)
    return p1


def _msm(*terms: tuple[int, Point]) -> Point:
    """sum(k_i * P_i) with 4-bit fixed windows and shared doublings (Straus).

    Verification needs s*B - c*Y and s*H - c*Gamma; sharing the doublings roughly halves it.
    """
    tables = []
    for k, pt in terms:
        row = [_IDENTITY, pt]
        for _ in range(14):
            row.append(_add(row[-1], pt))
        tables.append((k, row))
    windows = (max(k.bit_length() for k, _ in terms) + 3) // 4
    acc = _IDENTITY
    for i in range(windows - 1, -1, -1):
        if i != windows - 1:
            acc = _double(_double(_double(_double(acc))))
        shift = 4 * i
        for k, row in tables:
            digit = (k >> shift) & 15
            if digit:
                acc = _add(acc, row[digit])
    return acc


def _encode(p1: Point) -> bytes:
    """point_to_string: RFC 8032 §5.1.2 (y little-endian, sign of x in bit 255)."""
    x, y, z, _ = p1
    zi = pow(z, -1, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _decode(s: bytes) -> Point | None:
    """string_to_point: RFC 8032 §5.1.3, which RFC 9381 §5.5 requires (y >= p is INVALID)."""
    if len(s) != 32:
        return None
    n = int.from_bytes(s, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return None
    x = _sqrt((y * y - 1) * pow(_D * y * y + 1, -1, P))
    if x is None or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


_BY = 4 * pow(5, -1, P) % P
_B = _decode(_BY.to_bytes(32, "little"))
assert _B is not None


# --- hash_to_curve (RFC 9380, suite edwards25519_XMD:SHA-512_ELL2_NU_) -----------------------


def _expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    ell = -(-length // 64)
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise VRFError("expand_message_xmd: requested length out of range")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(128) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = hashlib.sha512(msg_prime).digest()
    out = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        prev = bytes(a ^ b for a, b in zip(b0, out[-1]))
        out.append(hashlib.sha512(prev + bytes([i]) + dst_prime).digest())
    return b"".join(out)[:length]


def _map_to_curve_ell2(u: int) -> Point:
    """Elligator 2 onto curve25519 (RFC 9380 §6.7.1, Z = 2), then the rational map to
    edwards25519 (RFC 9380 §6.8.2 / Appendix D.1 with sqrt(-486664) of sgn0 0)."""
    x1 = -_J * pow((1 + 2 * u * u) % P, P - 2, P) % P  # inv0
    if x1 == 0:
        x1 = -_J % P
    gx1 = x1 * (x1 * (x1 + _J) + 1) % P
    if pow(gx1, (P - 1) // 2, P) <= 1:  # is_square
        s, t = x1, _sqrt(gx1)
        want_odd = 1
    else:
        s = (-x1 - _J) % P
        t = _sqrt(s * (s * (s + _J) + 1))
        want_odd = 0
    assert t is not None
    if t & 1 != want_odd:
        t = -t % P
    if t == 0 or (s + 1) % P == 0:  # exceptional cases map to the identity
        return _IDENTITY
    w = pow(t * (s + 1), -1, P)
    x = _ELL2_C1 * s * (s + 1) * w % P
    y = (s - 1) * t * w % P
    return x, y, 1, x * y % P


_ELL2_C1 = _sqrt(-(_J + 2))  # sqrt(-486664)
assert _ELL2_C1 is not None
_ELL2_C1 = _ELL2_C1 if _ELL2_C1 & 1 == 0 else P - _ELL2_C1


def _encode_to_curve(salt: bytes, alpha: bytes) -> Point:
    """ECVRF_encode_to_curve_h2c_suite (RFC 9381 §5.4.1.2): RFC 9380 encode_to_curve (NU)
    of salt ‖ alpha, with hash_to_field L = 48 and clear_cofactor = multiplication by 8."""
    u = int.from_bytes(_expand_message_xmd(salt + alpha, _DST, 48), "big") % P
    return _clear_cofactor(_map_to_curve_ell2(u))


# --- ECVRF (RFC 9381 §5) ---------------------------------------------------------------------


def _bytes(value: object, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise VRFError(f"VRF {what} must be bytes")


def _expand_secret(secret_key: object) -> tuple[int, bytes]:
    """RFC 9381 §5.5: x from SK as RFC 8032 §5.1.5 steps 1-3 (SHA-512, clamp).

    Returns x and the second half of SHA-512(SK), the nonce prefix of §5.4.2.2.
    """
    sk = _bytes(secret_key, "secret key")
    if len(sk) not in (32, 64):
        raise VRFError("VRF secret key must be 32 or 64 bytes")
    h = hashlib.sha512(sk[:32]).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(a, "little"), h[32:]


def _challenge(*points: bytes) -> int:
    """ECVRF_challenge_generation (RFC 9381 §5.4.3) over encoded (Y, H, Gamma, U, V)."""
    digest = hashlib.sha512(SUITE + b"\x02" + b"".join(points) + b"\x00").digest()
    return int.from_bytes(digest[:_C_LEN], "little")


def _nonce(prefix: bytes, h_string: bytes) -> int:
    """ECVRF_nonce_generation_RFC8032 (RFC 9381 §5.4.2.2)."""
    return int.from_bytes(hashlib.sha512(prefix + h_string).digest(), "little") % L


def _decode_proof(proof: object) -> tuple[Point, int, int]:
    """ECVRF_decode_proof (RFC 9381 §5.4.4): Gamma must decode and s must be below q."""
    pi = _bytes(proof, "proof")
    if len(pi) != PROOF_SIZE:
        raise VRFError("invalid VRF proof")
    gamma = _decode(pi[:_PT_LEN])
    c = int.from_bytes(pi[_PT_LEN : _PT_LEN + _C_LEN], "little")
    s = int.from_bytes(pi[_PT_LEN + _C_LEN :], "little")
    if gamma is None or s >= L:
        raise VRFError("invalid VRF proof")
    return gamma, c, s


def _gamma_to_hash(gamma: Point) -> bytes:
    """Steps 3-5 of ECVRF_proof_to_hash (RFC 9381 §5.2): hash the cofactor-cleared Gamma."""
    return hashlib.sha512(SUITE + b"\x03" + _encode(_clear_cofactor(gamma)) + b"\x00").digest()


def public_key(secret_key: bytes) -> bytes:
    """The 32-byte public key PK = x*B, identical to the ed25519 public key of the seed."""
    x, _ = _expand_secret(secret_key)
    return _encode(_msm((x, _B)))


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (RFC 9381 §5.1): the 80-byte proof Gamma ‖ c ‖ s for alpha."""
    x, prefix = _expand_secret(secret_key)
    alpha = _bytes(alpha, "input")
    pk = _encode(_msm((x, _B)))
    h = _encode_to_curve(pk, alpha)
    h_string = _encode(h)
    gamma = _msm((x, h))
    k = _nonce(prefix, h_string)
    gamma_string = _encode(gamma)
    c = _challenge(pk, h_string, gamma_string, _encode(_msm((k, _B))), _encode(_msm((k, h))))
    s = (k + c * x) % L
    return gamma_string + c.to_bytes(_C_LEN, "little") + s.to_bytes(_Q_LEN, "little")


def proof_to_hash(proof: bytes) -> bytes:
    """ECVRF_proof_to_hash (RFC 9381 §5.2): the 64-byte beta, without checking the proof.

    Only call this on a proof that has been verified (or that you produced).
    """
    gamma, _, _ = _decode_proof(proof)
    return _gamma_to_hash(gamma)


def verify(public_key: bytes, proof: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (RFC 9381 §5.3) with validate_key: beta if valid, else VRFError.

    Point decoding is canonical, so point_to_string(string_to_point(b)) == b and the input
    strings of Y and Gamma are hashed as they are.
    """
    pk = _bytes(public_key, "public key")
    alpha = _bytes(alpha, "input")
    y = _decode(pk)
    if y is None or _is_identity(_clear_cofactor(y)):  # ECVRF_validate_key, §5.4.5
        raise VRFError("invalid VRF proof")
    gamma, c, s = _decode_proof(proof)
    h = _encode_to_curve(pk, alpha)
    u = _msm((s, _B), (c, _neg(y)))
    v = _msm((s, h), (c, _neg(gamma)))
    if _challenge(pk, _encode(h), bytes(proof[:_PT_LEN]), _encode(u), _encode(v)) != c:
        raise VRFError("invalid VRF proof")
    return _gamma_to_hash(gamma)


def is_valid(public_key: bytes, proof: bytes, alpha: bytes) -> bool:
    """True when `verify` accepts the proof."""
    try:
        verify(public_key, proof, alpha)
    except VRFError:
        return False
    return True
