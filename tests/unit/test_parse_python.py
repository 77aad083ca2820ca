#!/usr/bin/python3
"""The envelope parser judged by an independent encoder, Python's msgpack.

Usage: test_parse_python.py PATH/TO/parse_check

Envelopes are built the way applications build them (msgpack.packb with
use_bin_type True and False, which pick different str and body types and
widths) and by hand in every width the protocol allows, next to malformed
ones. parse_check parses each one with the C parser; every answer is compared
with what was put in, or with the error that the input was built to cause.
Ends with "N passed, M failed" and exits non-zero on any failure.
"""
import json
import random
import struct
import subprocess
import sys

import msgpack

INT_WIDTHS = ("fix", "u8", "u16", "u32", "u64")
STR_WIDTHS = ("fix", "s8", "s16", "s32")
BODY_WIDTHS = ("b8", "b16", "b32", "sfix", "s8", "s16", "s32")
ARRAY_WIDTHS = ("fix", "a16", "a32")


def enc_uint(v, width):
    if width == "fix":
        assert 0 <= v < 128, v
        return bytes([v])
    tag, fmt = {"u8": (0xCC, ">B"), "u16": (0xCD, ">H"), "u32": (0xCE, ">I"),
                "u64": (0xCF, ">Q")}[width]
    return bytes([tag]) + struct.pack(fmt, v)


def enc_str(b, width):
    if width == "fix":
        assert len(b) < 32
        return bytes([0xA0 | len(b)]) + b
    tag, fmt = {"s8": (0xD9, ">B"), "s16": (0xDA, ">H"), "s32": (0xDB, ">I")}[width]
    return bytes([tag]) + struct.pack(fmt, len(b)) + b


def enc_body(b, width):
    if width.startswith("s"):
        return enc_str(b, width[1:] if width == "sfix" else width)
    tag, fmt = {"b8": (0xC4, ">B"), "b16": (0xC5, ">H"), "b32": (0xC6, ">I")}[width]
    return bytes([tag]) + struct.pack(fmt, len(b)) + b


def enc_array(n, width):
    if width == "fix":
        return bytes([0x90 | n])
    return struct.pack(">BH" if width == "a16" else ">BI", 0xDC if width == "a16" else 0xDD, n)


def hand_built(env, widths):
    """env: dict of the 8 fields; widths: dict naming the width of each."""
    return (enc_array(8, widths["arr"])
            + enc_uint(env["ver"], widths["ver"])
            + enc_uint(env["kind"], widths["kind"])
            + enc_str(env["dst"], widths["dst"])
            + enc_str(env["src"], widths["src"])
            + enc_uint(env["prio"], widths["prio"])
            + enc_uint(env["ttl"], widths["ttl"])
            + enc_uint(env["id"], widths["id"])
            + enc_body(env["body"], widths["body"]))


def narrowest_uint(v):
    return next(w for w, lim in zip(INT_WIDTHS, (128, 1 << 8, 1 << 16, 1 << 32, 1 << 64))
                if v < lim)


def fields(ver=1, kind=0, dst=b"orders.eu", src=b"client-7", prio=2, ttl=16, id=42,
           body=b"\xde\xad\xbe\xef"):
    return {"ver": ver, "kind": kind, "dst": dst, "src": src, "prio": prio, "ttl": ttl,
            "id": id, "body": body}


def as_list(env, text_names=True):
    """The envelope as a Python list, names as str (text_names) or bytes."""
    name = (lambda b: b.decode()) if text_names else (lambda b: b)
    return [env["ver"], env["kind"], name(env["dst"]), name(env["src"]), env["prio"],
            env["ttl"], env["id"], env["body"]]


class Cases:
    def __init__(self):
        self.items = []  # (label, payload, expected dict of fields or error name)

    def ok(self, label, payload, env):
        self.items.append((label, payload, env))

    def bad(self, label, payload, error):
        self.items.append((label, payload, error))


def valid_cases(c, rng):
    names = [b"a", b"orders.eu", b"x" * 31, b"y" * 32, b"svc.payments.eu-west-1.primary",
             bytes(range(0x21, 0x21 + 63))]
    ids = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    bodies = [b"", b"\x00", b"hello", bytes(range(256)), b"z" * 65535, b"w" * 65536]

    # What applications send: packb in its two modes.
    for dst in names:
        for src in [b""] + names:
            for use_bin in (True, False):
                env = fields(dst=dst, src=src, kind=len(src) % 8, prio=len(dst) % 4,
                             ttl=len(dst) % 65, id=ids[len(src) % len(ids)],
                             body=bodies[len(dst) % 4])
                c.ok(f"packb use_bin_type={use_bin} dst={len(dst)}B src={len(src)}B",
                     msgpack.packb(as_list(env), use_bin_type=use_bin), env)
    for i in ids:
        env = fields(id=i)
        c.ok(f"packb id={i}", msgpack.packb(as_list(env)), env)
    for body in bodies:
        for use_bin in (True, False):
            env = fields(body=body)
            c.ok(f"packb body={len(body)}B use_bin_type={use_bin}",
                 msgpack.packb(as_list(env), use_bin_type=use_bin), env)
    for ttl in (0, 1, 2, 63, 64):
        env = fields(ttl=ttl)
        c.ok(f"packb ttl={ttl}", msgpack.packb(as_list(env)), env)
    for kind in range(8):
        for prio in range(4):
            env = fields(kind=kind, prio=prio)
            c.ok(f"packb kind={kind} prio={prio}", msgpack.packb(as_list(env)), env)
    # Names given to msgpack as bytes with use_bin_type=False are still str.
    env = fields()
    c.ok("packb bytes names use_bin_type=False",
         msgpack.packb(as_list(env, text_names=False), use_bin_type=False), env)
    # A streaming Packer and a tuple, as some applications use.
    packer = msgpack.Packer(use_bin_type=True)
    c.ok("Packer tuple", packer.pack(tuple(as_list(env))), env)

    # Every width of every field, one field at a time.
    base = {"arr": "fix", "ver": "fix", "kind": "fix", "dst": "fix", "src": "fix",
            "prio": "fix", "ttl": "fix", "id": "fix", "body": "b8"}
    env = fields()
    for key, choices in [("arr", ARRAY_WIDTHS), ("ver", INT_WIDTHS), ("kind", INT_WIDTHS),
                         ("dst", STR_WIDTHS), ("src", STR_WIDTHS), ("prio", INT_WIDTHS),
                         ("ttl", INT_WIDTHS), ("id", INT_WIDTHS), ("body", BODY_WIDTHS)]:
        for w in choices:
            widths = dict(base, **{key: w})
            c.ok(f"hand-built {key}={w}", hand_built(env, widths), env)

    # Random mixes of widths and values, from a fixed seed.
    for n in range(1500):
        env = fields(kind=rng.randrange(8), prio=rng.randrange(4), ttl=rng.randrange(65),
                     id=rng.choice(ids + [rng.getrandbits(64)]),
                     dst=bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 64))),
                     src=bytes(rng.randrange(256) for _ in range(rng.randrange(64))),
                     body=bytes(rng.randrange(256) for _ in range(rng.randrange(300))))
        widths = {"arr": rng.choice(ARRAY_WIDTHS), "body": rng.choice(BODY_WIDTHS)}
        for key in ("ver", "kind", "prio", "ttl", "id"):
            widths[key] = rng.choice(INT_WIDTHS[INT_WIDTHS.index(narrowest_uint(env[key])):])
        for key in ("dst", "src"):
            widths[key] = rng.choice(STR_WIDTHS if len(env[key]) < 32 else STR_WIDTHS[1:])
        if len(env["body"]) >= 32 and widths["body"] == "sfix":
            widths["body"] = "s8"
        if len(env["body"]) >= 256 and widths["body"] in ("b8", "s8"):
            widths["body"] = "b16"
        c.ok(f"random mix #{n} {widths}", hand_built(env, widths), env)


def malformed_cases(c):
    env = fields()
    good = msgpack.packb(as_list(env))
    wide = hand_built(env, {"arr": "a32", "ver": "u64", "kind": "u32", "dst": "s16",
                            "src": "s32", "prio": "u16", "ttl": "u8", "id": "u64",
                            "body": "b32"})
    legacy = msgpack.packb(as_list(fields(body=b"x" * 40)), use_bin_type=False)

    for name, payload in (("packb", good), ("widest", wide), ("use_bin_type=False", legacy)):
        for n in range(len(payload)):
            c.bad(f"{name} cut to {n}/{len(payload)} bytes", payload[:n], "truncated")
        c.bad(f"{name} + one byte", payload + b"\x00", "trailing")
        c.bad(f"{name} + nil", payload + msgpack.packb(None), "trailing")
        c.bad(f"{name} twice", payload + payload, "trailing")

    # Declared lengths larger than the datagram.
    def with_raw(index, raw):
        items = [msgpack.packb(x) for x in as_list(env)]
        items[index] = raw
        return b"\x98" + b"".join(items)

    c.bad("body bin8 claims 16", with_raw(7, b"\xc4\x10ab"), "truncated")
    c.bad("body bin32 claims 2^32-1", with_raw(7, b"\xc6\xff\xff\xff\xffab"), "truncated")
    c.bad("dst str32 claims 2^32-1", with_raw(2, b"\xdb\xff\xff\xff\xffab"), "truncated")
    c.bad("src str16 claims 65535", with_raw(3, b"\xda\xff\xffab"), "truncated")
    c.bad("body bin8 claims 1 of 3", with_raw(7, b"\xc4\x01abc"), "trailing")

    # Arity and top-level type.
    lst = as_list(env)
    c.bad("7 elements", msgpack.packb(lst[:7]), "arity")
    c.bad("9 elements", msgpack.packb(lst + [0]), "arity")
    c.bad("empty array", msgpack.packb([]), "arity")
    c.bad("array16 of 7", enc_array(7, "a16") + good[1:-len(msgpack.packb(lst[7]))], "arity")
    c.ok("array16 of 8", enc_array(8, "a16") + good[1:], env)
    c.ok("array32 of 8", enc_array(8, "a32") + good[1:], env)
    for label, obj in (("map", {"ver": 1}), ("int", 1), ("str", "x"), ("nil", None),
                       ("bin", b"\x98"), ("float", 1.0)):
        c.bad(f"top level {label}", msgpack.packb(obj), "not_array")

    # A wrong type in each field. Python packs negative ints as signed types
    # (fixint, int8, int16, int32, int64); a signed type holding a value that
    # would fit is built by hand.
    not_uint = [None, True, False, -1, -100, -1000, -100000, -2**40, 1.0, 1.5, "1", b"1",
                [], {}, msgpack.ExtType(1, b"x")]
    not_str = [None, True, 0, 200, -1, 1.0, b"bin name", [], {}, msgpack.ExtType(2, b"ab")]
    not_body = [None, False, 0, 70000, -5, 2.5, [], [b"x"], {}, {"k": b"v"},
                msgpack.ExtType(3, b"abcd")]
    signed_one = [b"\xd0\x01", b"\xd1\x00\x01", b"\xd2\x00\x00\x00\x01",
                  b"\xd3\x00\x00\x00\x00\x00\x00\x00\x01"]
    for index, key in enumerate(("ver", "kind", "dst", "src", "prio", "ttl", "id", "body")):
        wrong = {"dst": not_str, "src": not_str, "body": not_body}.get(key, not_uint)
        for value in wrong:
            items = as_list(env)
            items[index] = value
            c.bad(f"{key} = {value!r}", msgpack.packb(items, use_single_float=False), "type")
        items = as_list(env)
        items[index] = 1.0
        c.bad(f"{key} = float32 1.0", msgpack.packb(items, use_single_float=True), "type")
        if key not in ("dst", "src", "body"):
            for raw in signed_one:
                c.bad(f"{key} = signed 1 as {raw.hex()}", with_raw(index, raw), "type")

    # Values outside their rule.
    for key, value in (("ver", 0), ("ver", 2), ("ver", 257), ("kind", 8), ("kind", 2**64 - 1),
                       ("prio", 4), ("prio", 2**32 + 3), ("ttl", 65), ("ttl", 255),
                       ("ttl", 2**16 + 64)):
        c.bad(f"{key} = {value}", msgpack.packb(as_list(dict(env, **{key: value}))), "range")
    c.bad("dst of 64 bytes", msgpack.packb(as_list(dict(env, dst=b"d" * 64))), "range")
    c.bad("src of 64 bytes", msgpack.packb(as_list(dict(env, src=b"s" * 64))), "range")
    c.bad("dst of 300 bytes", msgpack.packb(as_list(dict(env, dst=b"d" * 300))), "range")
    c.bad("empty dst", msgpack.packb(as_list(dict(env, dst=b""))), "name")
    for dst in (b"\x00", b"\x00abc", b"ab\x00cd", b"abc\x00", b"x" * 62 + b"\x00"):
        c.bad(f"dst {dst!r}", msgpack.packb(as_list(dict(env, dst=dst))), "name")


def run_parse_check(exe, payloads):
    text = "".join(p.hex() + "\n" for p in payloads)
    proc = subprocess.run([exe], input=text, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{exe} exited {proc.returncode}: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    if len(lines) != len(payloads):
        sys.exit(f"{exe} answered {len(lines)} lines for {len(payloads)} payloads")
    return [json.loads(line) for line in lines]


def judge(payload, want, got):
    """Returns a description of what is wrong, or None."""
    if isinstance(want, str):
        if got["ok"]:
            return f"accepted, expected error {want}"
        if got["error"] != want:
            return f"error {got['error']}, expected {want}"
        return None
    if not got["ok"]:
        return f"rejected as {got['error']}"
    for key in ("ver", "kind", "prio", "ttl", "id"):
        if got[key] != want[key]:
            return f"{key} = {got[key]}, put in {want[key]}"
    for key in ("dst", "src", "body"):
        if bytes.fromhex(got[key]) != want[key]:
            return f"{key} = {got[key]}, put in {want[key].hex()}"
    if payload[got["ttl_off"]] != want["ttl"]:
        return f"ttl_off {got['ttl_off']} holds {payload[got['ttl_off']]}, not ttl {want['ttl']}"
    if payload[got["kind_off"]] != want["kind"]:
        held = payload[got["kind_off"]]
        return f"kind_off {got['kind_off']} holds {held}, not kind {want['kind']}"
    if got["body_off"] + len(want["body"]) != len(payload):
        return f"body_off {got['body_off']} + body does not end the payload"
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_parse_python.py PATH/TO/parse_check")
    exe = sys.argv[1]
    rng = random.Random(7400)
    cases = Cases()
    valid_cases(cases, rng)
    malformed_cases(cases)

    passed = failed = 0
    results = run_parse_check(exe, [p for _, p, _ in cases.items])
    # The router's in-place changes, applied to each valid envelope: ttl
    # decremented, and MSG and FANOUT swapped as a topic copy between nodes
    # swaps them (one byte at kind_off).
    patched = []
    for (label, payload, want), got in zip(cases.items, results):
        problem = judge(payload, want, got)
        if problem:
            failed += 1
            print(f"FAIL {label}: {problem} (payload {payload[:80].hex()})")
            continue
        passed += 1
        if isinstance(want, dict) and want["ttl"] > 0:
            p = bytearray(payload)
            p[got["ttl_off"]] -= 1
            kind = {0: 7, 7: 0}.get(want["kind"], want["kind"])
            p[got["kind_off"]] = kind
            patched.append((label, bytes(p), dict(want, ttl=want["ttl"] - 1, kind=kind)))

    for (label, payload, want), got in zip(patched,
                                           run_parse_check(exe, [p for _, p, _ in patched])):
        problem = judge(payload, want, got)
        if problem:
            failed += 1
            print(f"FAIL ttl decremented at ttl_off, kind swapped at kind_off, {label}: {problem}")
        else:
            passed += 1

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
