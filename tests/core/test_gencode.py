"""Checked-in gencode comparisons ignore the generator's version stamps and nothing else."""

from core.gencode import same_code

GRPC_A = b"import grpc\n\nGRPC_GENERATED_VERSION = '1.85.1'\nGRPC_VERSION = grpc.__version__\n"
PB_A = (
    b"# source: x.proto\n# Protobuf Python Version: 7.35.1\n"
    b"_runtime_version.ValidateProtobufRuntimeVersion(\n    _runtime_version.Domain.PUBLIC,\n    7,\n    35,\n    1,\n"
    b"    '',\n    'x.proto'\n)\n_DESC = b'\\n\\x07x.proto'\n"
)


def test_a_newer_generator_patch_release_is_not_a_change():
    assert same_code(GRPC_A, GRPC_A.replace(b"1.85.1", b"1.85.4"))
    newer = PB_A.replace(b"Version: 7.35.1", b"Version: 7.36.2").replace(b"7,\n    35,\n    1,", b"7,\n    36,\n    2,")
    assert newer != PB_A and same_code(PB_A, newer)


def test_code_changes_and_missing_files_are_changes():
    assert not same_code(PB_A, PB_A.replace(b"x.proto'\n)", b"y.proto'\n)"))
    assert not same_code(PB_A, PB_A.replace(b"\\x07x.proto", b"\\x07y.proto"))
    assert not same_code(GRPC_A, GRPC_A + b"x = 1\n")
    assert not same_code(GRPC_A, None) and not same_code(None, None)
