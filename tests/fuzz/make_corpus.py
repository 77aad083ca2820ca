#!/usr/bin/python3
"""Writes the seed corpus for fuzz_parse into corpus/parse/ beside this file.

Seeds are small envelopes in the widths senders really use (msgpack.packb in
both of its modes) and in every other width the protocol allows, plus a few
malformed ones near the edges (truncated, trailing, wrong arity, wrong type,
out of range), so the fuzzer starts from every branch of the parser instead
of having to find the format on its own. File names say what each seed is.
Run it again after changing it and check in both the script and the files:
  /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import os
import struct

import msgpack

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "parse")


def uint(v, width):
    if width == "fix":
        return bytes([v])
    tag, fmt = {"u8": (0xCC, ">B"), "u16": (0xCD, ">H"), "u32": (0xCE, ">I"),
                "u64": (0xCF, ">Q")}[width]
    return bytes([tag]) + struct.pack(fmt, v)


def string(b, width):
    if width == "fix":
        return bytes([0xA0 | len(b)]) + b
    tag, fmt = {"s8": (0xD9, ">B"), "s16": (0xDA, ">H"), "s32": (0xDB, ">I")}[width]
    return bytes([tag]) + struct.pack(fmt, len(b)) + b


def body(b, width):
    if width.startswith("s"):
        return string(b, "fix" if width == "sfix" else width)
    tag, fmt = {"b8": (0xC4, ">B"), "b16": (0xC5, ">H"), "b32": (0xC6, ">I")}[width]
    return bytes([tag]) + struct.pack(fmt, len(b)) + b


def envelope(arr="fix", ints="fix", names="fix", body_width="b8", ver=1, kind=0,
             dst=b"orders", src=b"cli", prio=2, ttl=16, id=42, payload=b"hi"):
    head = {"fix": b"\x98", "a16": b"\xdc\x00\x08", "a32": b"\xdd\x00\x00\x00\x08"}[arr]
    return (head + uint(ver, ints) + uint(kind, ints) + string(dst, names)
            + string(src, names) + uint(prio, ints) + uint(ttl, ints)
            + uint(id, ints if id < 128 else "u64") + body(payload, body_width))


def seeds():
    fields = [1, 0, "orders.eu", "client-7", 2, 16, 42, b"\xde\xad\xbe\xef"]
    yield "packb-bin", msgpack.packb(fields, use_bin_type=True)
    yield "packb-legacy-raw", msgpack.packb(fields, use_bin_type=False)
    yield "packb-id-max", msgpack.packb(fields[:6] + [2**64 - 1, b""])
    yield "packb-dst-63", msgpack.packb([1, 0, "d" * 63, "", 0, 64, 0, b""])
    yield "packb-src-63-fanout", msgpack.packb([1, 7, "topic", "s" * 63, 3, 1, 7, b"x"])
    yield "packb-register-map-body", msgpack.packb(
        [1, 1, "svc", "svc-a", 0, 8, 1, msgpack.packb({"lease_ms": 30000})])
    for arr in ("fix", "a16", "a32"):
        yield f"array-{arr}", envelope(arr=arr)
    for ints in ("fix", "u8", "u16", "u32", "u64"):
        yield f"ints-{ints}", envelope(ints=ints)
    for names in ("fix", "s8", "s16", "s32"):
        yield f"names-{names}", envelope(names=names)
    for bw in ("b8", "b16", "b32", "sfix", "s8", "s16", "s32"):
        yield f"body-{bw}", envelope(body_width=bw)
    yield "widest", envelope(arr="a32", ints="u64", names="s32", body_width="b32")
    yield "ttl-0", envelope(ttl=0)
    yield "ttl-64-u8", envelope(ttl=64, ints="u8")

    good = envelope()
    yield "bad-truncated-body", good[:-1]
    yield "bad-truncated-header", good[:5]
    yield "bad-trailing", good + b"\xc0"
    yield "bad-arity-7", b"\x97" + good[1:-3]
    yield "bad-arity-array16-9", b"\xdc\x00\x09" + good[1:] + b"\x00"
    yield "bad-not-array", msgpack.packb({"ver": 1})
    yield "bad-type-int8-ver", b"\x98\xd0\x01" + good[2:]
    yield "bad-type-bin-dst", msgpack.packb([1, 0, b"orders", "c", 0, 5, 1, b""])
    yield "bad-type-nil-body", msgpack.packb([1, 0, "orders", "c", 0, 5, 1, None])
    yield "bad-range-ver-2", envelope(ver=2)
    yield "bad-range-ttl-65", envelope(ttl=65, ints="u8")
    yield "bad-range-dst-64", envelope(dst=b"d" * 64, names="s8")
    yield "bad-name-empty-dst", envelope(dst=b"")
    yield "bad-name-nul-dst", envelope(dst=b"ord\x00rs")
    yield "bad-overlong-bin32", good[:-4] + b"\xc6\xff\xff\xff\xff" + b"hi"


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        os.remove(os.path.join(OUT, old))
    count = 0
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        count += 1
    print(f"make_corpus: wrote {count} seeds to {OUT}")


if __name__ == "__main__":
    main()
