#!/usr/bin/env python3
"""Write CIFAR-10's test batch as an image folder with its own splits, to time the image-folder
reader and its cache on a realistic number of files:
OUT/cifar10-png/train/<class>/NNNNN.png (images 0-7999) and OUT/cifar10-png/test/<class>/...
(images 8000-9999), 32×32 RGB PNGs. Plain Python (zlib), no dependency.

    python3 bench/tabular/cifar_folder.py /work/shared/data/cifar-10/test_batch.bin.gz bench-runs/tabular/data
"""
import gzip
import os
import struct
import sys
import zlib

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def png_rgb(path, planes, side):
    rows = []
    for r in range(side):
        row = bytearray(b"\x00")
        for c in range(side):
            i = r * side + c
            row += bytes((planes[i], planes[1024 + i], planes[2048 + i]))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                + chunk(b"IEND", b""))


def main():
    src, out = sys.argv[1], sys.argv[2]
    data = gzip.open(src).read() if src.endswith(".gz") else open(src, "rb").read()
    for i in range(len(data) // 3073):
        record = data[i * 3073:(i + 1) * 3073]
        split = "train" if i < 8000 else "test"
        folder = os.path.join(out, "cifar10-png", split, CLASSES[record[0]])
        os.makedirs(folder, exist_ok=True)
        png_rgb(os.path.join(folder, f"{i:05d}.png"), record[1:], 32)
    print(f"wrote {len(data) // 3073} PNGs in {out}/cifar10-png")


if __name__ == "__main__":
    main()
