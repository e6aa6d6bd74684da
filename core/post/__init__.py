"""Proof of Space-Time: labels (reference, numba CPU, OpenCL), init, proving, k2pow, verification, metadata.

spec/post.md.  `core.post.labels` is the entry point for label computation; the submodules
`keccak` and `scrypt_jane` are the plain-Python references every compiled kernel is tested against.
"""
