"""The byte pattern of tests/support/ts_util.c, for the Python peers.

Byte i of a stream is byte (i mod 8), little-endian, of splitmix64 applied
to i // 8, so a slice that was dropped, duplicated or shifted never matches
by accident, and both sides can check any slice on their own.
"""
import struct

_MASK = (1 << 64) - 1


def pattern(offset, length):
    """The pattern bytes for stream offsets [offset, offset + length)."""
    words = []
    # splitmix64, inlined: a function call per word would triple the time
    # (a megabyte is 131072 words).
    for i in range(offset >> 3, (offset + length + 7) >> 3):
        z = (i + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        words.append(z ^ (z >> 31))
    start = offset & 7
    return struct.pack(f"<{len(words)}Q", *words)[start:start + length]


def first_difference(got, want):
    """The index of the first byte where |got| and |want| differ; where the
    shorter one ends if one is a prefix of the other (so len(got) when
    |got| is |want| or a prefix of it)."""
    if want.startswith(got):
        return len(got)
    return next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                min(len(got), len(want)))
