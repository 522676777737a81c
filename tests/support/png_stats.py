#!/usr/bin/env python3
"""Prints `WIDTH HEIGHT COLOURS` of a PNG (8-bit RGB or RGBA, as Chromium writes screenshots):
how many distinct pixel colours it holds, so a test can tell a rendered page from a blank one.
Standard library only (zlib and the PNG filters)."""
import struct
import sys
import zlib


def main(path: str) -> int:
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        print(f"{path}: not a PNG", file=sys.stderr)
        return 1
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            if depth != 8 or colour not in (2, 6):
                print(f"{path}: unsupported PNG (depth {depth}, colour type {colour})", file=sys.stderr)
                return 1
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 4):  # every 4th pixel is plenty to count colours
            colours.add(bytes(line[x:x + 3]))
        prev = line
    print(width, height, len(colours))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
