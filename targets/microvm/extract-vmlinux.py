#!/usr/bin/env python3
"""Extracts the uncompressed ELF vmlinux from an x86 bzImage (for PVH boot).

Uses the boot protocol header (Documentation/arch/x86/boot.rst, >= 2.08):
setup_sects at 0x1f1, payload_offset at 0x248, payload_length at 0x24c. The
payload starts at (setup_sects + 1) * 512 + payload_offset and ends with its
uncompressed size (4 bytes, little-endian). LZ4 (legacy frame) and zstd
payloads are decompressed with the lz4 / zstd commands.

usage: extract-vmlinux.py BZIMAGE OUT
"""
import struct, subprocess, sys

def main(bzimage, out):
    data = open(bzimage, "rb").read()
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start : start + payload_length]
    size = struct.unpack_from("<I", payload, len(payload) - 4)[0]
    body = payload[:-4]
    if body[:4] == b"\x02\x21\x4c\x18":
        tool = ["lz4", "-dc"]
    elif body[:4] == b"\x28\xb5\x2f\xfd":
        tool = ["zstd", "-dcq"]
    else:
        sys.exit(f"{bzimage}: unknown payload compression {body[:4].hex()}")
    elf = subprocess.run(tool, input=body, capture_output=True, check=True).stdout
    if elf[:4] != b"\x7fELF" or len(elf) != size:
        sys.exit(f"{bzimage}: decompressed {len(elf)} bytes, expected an ELF of {size}")
    open(out, "wb").write(elf)

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
