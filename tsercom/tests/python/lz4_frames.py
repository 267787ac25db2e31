"""LZ4 frames both ways with Python's `lz4.frame` (what Python tsercom's
tensor chunks use), for tests/tensor_lz4_python.rs.

    python lz4_frames.py DIR

For each DIR/<name>.raw: checks that DIR/<name>.rust.lz4 (written by Rust)
decompresses to it, then writes Python's frames of it for Rust to read:
<name>.py.lz4 (lz4.frame.compress defaults: linked blocks, content size),
<name>.py-indep-checksum.lz4 (independent blocks, content checksum, 256 KiB
blocks). Prints one line per file and `N passed, 0 failed`.
"""

import os
import sys

import lz4.frame


def main(d: str) -> int:
    names = sorted(f[: -len(".raw")] for f in os.listdir(d) if f.endswith(".raw"))
    for name in names:
        with open(os.path.join(d, name + ".raw"), "rb") as f:
            raw = f.read()
        with open(os.path.join(d, name + ".rust.lz4"), "rb") as f:
            ours = f.read()
        got = lz4.frame.decompress(ours)
        if got != raw:
            print(f"{name}: Rust's frame decompresses to {len(got)} bytes, not the {len(raw)} written")
            return 1
        with open(os.path.join(d, name + ".py.lz4"), "wb") as f:
            f.write(lz4.frame.compress(raw))
        with open(os.path.join(d, name + ".py-indep-checksum.lz4"), "wb") as f:
            f.write(
                lz4.frame.compress(
                    raw,
                    block_linked=False,
                    content_checksum=True,
                    block_size=lz4.frame.BLOCKSIZE_MAX256KB,
                )
            )
        print(f"{name}: {len(raw)} bytes, Rust's frame ({len(ours)} bytes) ok")
    print(f"{len(names)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
