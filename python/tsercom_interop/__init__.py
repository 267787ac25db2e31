"""A small grpcio peer speaking the Rust tsercom wire protocol (PROTOCOL.md).

Generated code lives in the package ``tsercom_wire`` (see ``codegen``), so
it never clashes with the PyPI package ``tsercom`` (Python tsercom 1.x),
which may be installed in the same environment.
"""
