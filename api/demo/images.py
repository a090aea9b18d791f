"""Small real images for the demo's files (and tests'): PNGs made here, not stored."""

import struct
import zlib


def png(width: int = 48, height: int = 32, seed: int = 0) -> bytes:
    """An RGB PNG of ``width`` by ``height`` pixels, a gradient that ``seed`` shifts."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00"  # no filter
        + b"".join(
            bytes(((x * 5 + seed) % 256, (y * 7 + seed) % 256, (x + y + seed) % 256))
            for x in range(width)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
