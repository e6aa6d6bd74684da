"""The signed transactions of spec/wallet.md §5.4, byte for byte."""

from core.config.networks import MAINNET
from core.tx import build
from core.tx.gas import AccountKind, fee, max_gas
from core.tx.signing import combine, sign_part, sign_single, verify
from core.tx.templates import Template, multisig_args, wallet_principal
from core.tx.transaction import decode_tx
from core.wallet.address import decode_address, encode_address
from core.wallet.slip10 import derive
from core.wallet.mnemonic import mnemonic_to_seed

K2_SEED = bytes.fromhex("cd85df73aa3bc31de2f0b69bb1421df7eb0cdca7cb170a457869ab337749dae1")
K2_PUB = bytes.fromhex("de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6")
K2B_PUB = bytes.fromhex("3e53ca89fae03e6e9477f0fdc3abf994d1885007a73d136f4122a260a70348cd")
K2_MNEMONIC = "film theme cheese broken kingdom destroy inch ready wear inspire shove pudding"
GENESIS = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")
DEST = "sm1qqqqqqrhxcdx9sph8ps4fnynrjl960s0apr49zs9zmfvg"

# spec/wallet.md §5.4 prints this with one extra zero byte before the template (85 bytes); its own
# signature, tx id and stated size (148 B) hold only for the 84-byte form below.
SPAWN_UNSIGNED = (
    "0000000000451a6878c3f79c4e8d035da69585fd6c2a59471c00"  # version, principal, method 0
    "000000000000000000000000000000000000000000000001"  # wallet template address
    "0004de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6"  # nonce, gas price, key
)
SPAWN_SIG = (
    "3de7d4b05ac04824b7fddfca1d7c527d47d8752b3b21fc2b9d03d14389e0efe3"
    "784aca7e4d206cfb87a4441d92fec2f028df62d5b4dcd3e62b2b72b5f60e3301"
)
SPEND_UNSIGNED = (
    "0000000000451a6878c3f79c4e8d035da69585fd6c2a59471c4004040000000077361a62c037386154cc931cbe5d3e0fe847528a02286bee"
)
SPEND_SIG = (
    "3ff845d053f98b511b3211f6aca959d20140ecd6953080dd568908d59f913599"
    "61a7292f4ead37b358c2c421787a4d7df988198efad61943179a10c9bf03cb08"
)
MS_UNSIGNED = (
    "00000000006591a8c12e246fc95000b90556a0474b577b21b14000040000000077361a62c037386154cc931cbe5d3e0fe847528a02286bee"
)
MS_PART0 = (
    "00b0dc426c8353b5b6a1cba38867f00979d96af9982d695c20156c1c14f96cace7"
    "11e7fbf89227e24ba1ce4494b7e42fbf4ffa157f9d621584fed2fc1758cded07"
)
MS_PART1 = (
    "0456644632ffb3a99f1b223b9566e6cf81affff157bbe8907c4a80b6c971e69bb9"
    "adf54dbcf7ea0a01e720612c8fcfb56f541b3cb4a2f63c172390a863ec8d7d01"
)


def test_mainnet_genesis_id():
    assert MAINNET.genesis_id() == GENESIS


def test_wallet_self_spawn():
    tx = sign_single(build.wallet_spawn(K2_PUB, nonce=0, gas_price=1), K2_SEED, GENESIS)
    assert tx.unsigned_bytes().hex() == SPAWN_UNSIGNED
    assert tx.raw().hex() == SPAWN_UNSIGNED + SPAWN_SIG
    assert len(tx.raw()) == 148
    assert tx.id.hex() == "c7a726a6fba8206448e9dbccdeb64458d978fd5368f68008968dbaace7a81176"
    assert max_gas(tx) == 100432
    assert encode_address(tx.principal, "sm") == "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
    assert decode_tx(tx.raw()) == tx


def test_wallet_spend():
    principal = wallet_principal(K2_PUB)
    tx = build.spend(principal, decode_address(DEST, "sm"), 10**9, nonce=1, gas_price=1)
    assert tx.args.destination.hex() == "0000000077361a62c037386154cc931cbe5d3e0fe847528a"
    tx = sign_single(tx, K2_SEED, GENESIS)
    assert tx.raw().hex() == SPEND_UNSIGNED + SPEND_SIG
    assert len(tx.raw()) == 120
    assert tx.id.hex() == "b6c0ef02f25504a98cc2237e6ec9f75c95c72c49b804a94cda84282488f9d884"
    assert max_gas(tx) == 36090
    assert fee(tx) == 36090
    assert max_gas(tx.with_signature(bytes(64)), AccountKind.wallet()) == 36090
    assert decode_tx(tx.raw()) == tx
    assert verify(tx, GENESIS, [K2_PUB])
    assert not verify(tx, bytes(20), [K2_PUB])


def _k2b_secret():
    return derive(mnemonic_to_seed(K2_MNEMONIC), "m/44'/540'/0'/0'/1'").secret_key


def test_multisig_spend_2_of_2():
    args = multisig_args(2, [K2_PUB, K2B_PUB])
    principal = build.multisig_spawn(args).principal
    assert encode_address(principal, "sm") == "sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"
    tx = build.spend(principal, decode_address(DEST), 10**9, nonce=0, gas_price=1)
    assert tx.unsigned_bytes().hex() == MS_UNSIGNED
    part0 = sign_part(tx, K2_SEED, GENESIS, 0)
    part1 = sign_part(tx, _k2b_secret(), GENESIS, 1)
    assert part0.encode().hex() == MS_PART0
    assert part1.encode().hex() == MS_PART1
    # parts given out of order come out sorted by ref
    signed = combine(tx, [part1, part0], 2, [K2_PUB, K2B_PUB], GENESIS)
    assert signed.raw().hex() == MS_UNSIGNED + MS_PART0 + MS_PART1
    assert len(signed.raw()) == 186
    assert signed.id.hex() == "5b16555eb2e2f180008c9d126883b90db6a66fe7ab1a325a79e52856077b5d5b"
    kind = AccountKind.multisig(2, 2)
    assert max_gas(signed, kind) == 40970
    assert max_gas(tx, kind) == 40970  # unsigned estimate counts the parts to come
    assert decode_tx(signed.raw()) == signed


def test_multisig_self_spawn_gas():
    args = multisig_args(2, [K2_PUB, K2B_PUB])
    tx = build.multisig_spawn(args)
    parts = [sign_part(tx, K2_SEED, GENESIS, 0), sign_part(tx, _k2b_secret(), GENESIS, 1)]
    signed = combine(tx, parts, 2, args.public_keys, GENESIS)
    assert len(signed.raw()) == 248
    assert max_gas(signed) == 124968
    assert decode_tx(signed.raw()) == signed
    assert signed.template == Template.MULTISIG
