#!/usr/bin/python3
"""test_loadgen_offline.py - yard-loadgen's --write-pcap and --emit-routes, judged
by an independent reader: Python's struct for the pcap, Ethernet, IPv4 and UDP
headers and checksums, python3-msgpack for the envelopes.

What a benchmark needs from them: every frame exactly the requested size and
valid for the appliance; the names in the frames are exactly the routes the
same options print; 64-byte frames still carry envelopes.

usage: test_loadgen_offline.py PATH/TO/yard-loadgen
"""

import os
import re
import struct
import subprocess
import sys
import tempfile

import msgpack

LOADGEN = sys.argv[1]
failures = 0
passed = 0


def check(cond, what):
    global failures, passed
    if cond:
        passed += 1
    else:
        failures += 1
        print("FAIL:", what)


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def read_pcap(path):
    data = open(path, "rb").read()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and (major, minor) == (2, 4) and linktype == 1
    off, frames = 24, []
    while off < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + incl])
        assert incl == orig
        off += incl
    return frames


def decode(frame):
    """(envelope list, ip dst, udp dst port) or raise on anything invalid."""
    assert struct.unpack("!H", frame[12:14])[0] == 0x0800, "not IPv4"
    ip = frame[14:34]
    assert ip[0] == 0x45 and ip[9] == 17, "not IPv4/UDP without options"
    assert ones_sum(ip) == 0xFFFF, "IPv4 checksum"
    total = struct.unpack("!H", ip[2:4])[0]
    assert 14 + total == len(frame), "IPv4 length %d in a %d-byte frame" % (total, len(frame))
    udp = frame[34:14 + total]
    sport, dport, ulen, _ = struct.unpack("!HHHH", udp[:8])
    assert ulen == len(udp)
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
    assert ones_sum(pseudo + udp) == 0xFFFF, "UDP checksum"
    payload = udp[8:]
    env = msgpack.unpackb(payload, raw=True)  # raises on trailing bytes
    assert isinstance(env, list) and len(env) == 8
    ver, kind, dst, src, prio, ttl, mid, body = env
    assert ver == 1 and kind == 0 and 0 <= prio <= 3 and 1 <= ttl <= 64
    assert isinstance(dst, bytes) and 1 <= len(dst) <= 63 and b"\0" not in dst
    assert isinstance(src, bytes) and len(src) <= 63
    assert isinstance(body, bytes)
    # The id is always a uint64 (0xcf + 8 bytes) so a sender can patch it in place.
    assert struct.pack("!BQ", 0xCF, mid) in payload
    return env, ip[16:20], dport


def routes(args):
    out = subprocess.run([LOADGEN, "--emit-routes", "--src-mac", "02:59:41:52:44:02"] + args,
                         check=True, capture_output=True, text=True).stdout
    names = re.findall(r'^  - \{name: "([^"]+)", ipv4: ([0-9.]+), udp_port: (\d+), '
                       r'mac: "([0-9a-f:]+)"\}$', out, re.M)
    return out, names


with tempfile.TemporaryDirectory() as tmp:
    for size in (64, 128, 256, 300, 1514):
        path = os.path.join(tmp, "f%d.pcap" % size)
        common = ["--names", "100", "--frame-size", str(size)]
        subprocess.run([LOADGEN, "--write-pcap", path, "--frames", "400"] + common,
                       check=True, capture_output=True)
        frames = read_pcap(path)
        check(len(frames) == 400, "%d B: 400 frames, got %d" % (size, len(frames)))
        check(all(len(f) == size for f in frames), "%d B: every frame exactly %d bytes" % (size, size))
        names, classes, bad = set(), set(), 0
        for f in frames:
            try:
                env, ipdst, dport = decode(f)
                names.add(env[2].decode())
                classes.add(env[4])
                check(ipdst == bytes([198, 18, 0, 1]) and dport == 7400,
                      "%d B: sent to 198.18.0.1:7400" % size)
            except Exception as e:  # noqa: BLE001 - any failure is a bad frame
                bad += 1
                print("  %d B frame: %s" % (size, e))
        check(bad == 0, "%d B: %d frames are not valid envelopes" % (size, bad))
        _, route_list = routes(common)
        check(names == {r[0] for r in route_list},
              "%d B: the frames' names are exactly the routes --emit-routes prints" % size)
        check(len(route_list) == 100 and len({r[0] for r in route_list}) == 100,
              "%d B: 100 distinct routes" % size)
        check(classes == {0, 1, 2, 3}, "%d B: every class appears (default mix)" % size)
        longest = max(len(n) for n in names)
        if size == 64:
            check(longest <= 4, "64 B: names of at most 4 bytes fit, got %d" % longest)
        else:
            check(longest > 40, "%d B: long names are used (longest %d)" % (size, longest))

    # Unknown names: a share of the frames goes to names no route covers.
    path = os.path.join(tmp, "unknown.pcap")
    subprocess.run([LOADGEN, "--write-pcap", path, "--frames", "1000", "--names", "50",
                    "--unknown-pct", "20", "--frame-size", "128"], check=True, capture_output=True)
    _, route_list = routes(["--names", "50", "--frame-size", "128"])
    known = {r[0] for r in route_list}
    dsts = [decode(f)[0][2].decode() for f in read_pcap(path)]
    unknown = sum(1 for d in dsts if d not in known)
    check(120 <= unknown <= 280, "about 20%% of 1000 frames to unknown names, got %d" % unknown)

    # The route list itself: YAML a router can load, pointing where we said.
    out, route_list = routes(["--names", "3", "--src-ip", "198.19.0.2", "--src-port", "7501"])
    check(len(route_list) == 3, "3 routes printed")
    check(all(r[1] == "198.19.0.2" and r[2] == "7501" and r[3] == "02:59:41:52:44:02"
              for r in route_list), "routes point to --src-ip:--src-port with --src-mac")

    # Refusals that name the problem.
    r = subprocess.run([LOADGEN, "--write-pcap", os.path.join(tmp, "x.pcap"), "--frame-size", "60"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "61" in r.stderr, "a 60-byte frame is refused, naming 61")
    r = subprocess.run([LOADGEN, "--emit-routes"], capture_output=True, text=True)
    check(r.returncode != 0 and "--src-mac" in r.stderr, "--emit-routes without a MAC asks for --src-mac")
    r = subprocess.run([LOADGEN, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--write-pcap" in r.stdout, "--help prints the usage")

print("%d passed, %d failed" % (passed, failures))
sys.exit(1 if failures else 0)
