"""The one exception family of smesh.

Every error a user can cause carries a message fit to print as one line.  The CLI turns a
`SmeshError` into a red one-line error and a non-zero exit code; anything else is a bug.
"""


class SmeshError(Exception):
    """Base of every expected, user-facing error."""

    exit_code = 1


class InvalidInput(SmeshError):
    """A value given by the user is malformed or out of range."""

    exit_code = 2


class DecodeError(InvalidInput):
    """Bytes that do not decode to the expected wire type."""


class TruncatedData(DecodeError):
    """Bytes that end before the value they encode does."""


class AddressError(InvalidInput):
    """A bech32 address that is malformed or belongs to another network."""


class MnemonicError(InvalidInput):
    """A BIP-39 phrase with bad whitespace, unknown words or a bad checksum."""


class WalletFileError(SmeshError):
    """A wallet file that cannot be read, written or decrypted."""


class WrongPassword(WalletFileError):
    """The password does not decrypt the wallet file."""


class TxError(InvalidInput):
    """A transaction that cannot be built, signed or combined as asked."""
