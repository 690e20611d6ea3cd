"""A 160-byte static aarch64 Linux program that prints `aarch64`, written byte by byte.

No arm64 binary can be downloaded here, and this one needs no toolchain: running it proves that
the kernel hands aarch64 code to QEMU, and inside an arm64 image that buildx and the engine do too.
"""

from __future__ import annotations

import struct

EM_AARCH64 = 183
BASE = 0x400000
MESSAGE = b"aarch64\n"
CODE = [
    0xD2800020,  # mov x0, #1          stdout
    0x100000E1,  # adr x1, message     (+28 bytes)
    0xD2800102,  # mov x2, #8          length
    0xD2800808,  # mov x8, #64         write
    0xD4000001,  # svc #0
    0xD2800000,  # mov x0, #0          status
    0xD2800BA8,  # mov x8, #93         exit
    0xD4000001,  # svc #0
]


def aarch64_hello() -> bytes:
    header_size, program_header_size = 64, 56
    body = b"".join(struct.pack("<I", word) for word in CODE) + MESSAGE
    total = header_size + program_header_size + len(body)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # ET_EXEC
        EM_AARCH64,
        1,
        BASE + header_size + program_header_size,
        header_size,
        0,
        0,
        header_size,
        program_header_size,
        1,
        64,
        0,
        0,
    )
    program_header = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, total, total, 0x1000)
    return header + program_header + body
