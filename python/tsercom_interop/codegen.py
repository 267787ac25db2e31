"""Generates Python code for tsercom's protos and a user's protos.

``proto/tsercom/*.proto`` import one another as ``tsercom/<file>.proto``;
protoc turns that path into the Python package ``tsercom``, which is the
name of the PyPI package (``ImportError: cannot import name 'peer_pb2'
from 'tsercom'``). The protos are therefore copied with ``tsercom/`` import
paths rewritten to ``tsercom_wire/``: the generated package is
``tsercom_wire``, while the proto package (``tsercom``), message names and
field numbers (the wire format) stay the same.
"""

import os
import re
import shutil
import sys

WIRE_PACKAGE = "tsercom_wire"
_IMPORT = re.compile(r'^(\s*import\s+(?:public\s+|weak\s+)?")tsercom/', re.M)


def _rewrite(text):
    return _IMPORT.sub(r"\1" + WIRE_PACKAGE + "/", text)


def generate(repo_root, user_protos, out_dir):
    """Writes ``out_dir/tsercom_wire/*_pb2*.py`` and, for each of
    ``user_protos`` (paths), ``out_dir/<name>_pb2*.py``; returns ``out_dir``
    (to put on ``sys.path``)."""
    from grpc_tools import protoc  # grpcio-tools

    staging = os.path.join(out_dir, "_protos")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(os.path.join(staging, WIRE_PACKAGE))
    tsercom_dir = os.path.join(repo_root, "proto", "tsercom")
    wire_files = []
    for name in sorted(os.listdir(tsercom_dir)):
        if not name.endswith(".proto") or name == "ipc.proto":
            continue
        with open(os.path.join(tsercom_dir, name), encoding="utf-8") as f:
            text = _rewrite(f.read())
        with open(os.path.join(staging, WIRE_PACKAGE, name), "w", encoding="utf-8") as f:
            f.write(text)
        wire_files.append(os.path.join(WIRE_PACKAGE, name))
    user_files = []
    for path in user_protos:
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            text = _rewrite(f.read())
        with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
            f.write(text)
        user_files.append(name)
    os.makedirs(os.path.join(out_dir, WIRE_PACKAGE), exist_ok=True)
    with open(os.path.join(out_dir, WIRE_PACKAGE, "__init__.py"), "w", encoding="utf-8") as f:
        f.write('"""Generated from tsercom\'s protos (package path rewritten)."""\n')
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = [
        "grpc_tools.protoc",
        "-I" + staging,
        "-I" + well_known,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + wire_files + user_files
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError("protoc failed (%d) on %s" % (code, " ".join(args[5:])))
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return out_dir
