#!/usr/bin/python3
"""test_yardctl.py - yardctl run as an operator would run it.

A real shm segment is made by shm_fill (tests/unit/shm_fill.c), which plays
the dataplane: it fills the fixed numbers listed at the top of shm_fill.c and
keeps its heartbeat fresh. This script runs the real yardctl binary against
it and checks what an operator reads: JSON numbers, the table, the live
rates of --watch and of top, exit codes and error messages. The commands
that ask yard-control are run against a stand-in daemon written here with
Python's msgpack (independent of the C RPC code), which answers from a table
and records what yardctl sent.

The expected numbers are written out here independently of yardctl (they are
shm_fill's inputs); reason names and help texts are read from
shm/yard_counters.h, the one list.

usage: test_yardctl.py YARDCTL SHM_FILL
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

YARDCTL, SHM_FILL = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
COUNTERS_H = os.path.join(HERE, "..", "..", "shm", "yard_counters.h")

PASSED, FAILED = 0, 0


def read_reasons():
    """(name, help) of every drop reason, in order, from yard_counters.h."""
    text = open(COUNTERS_H).read()
    block = text[text.index("#define YARD_DROP_REASONS"):text.index("enum yard_drop_reason")]
    # an entry may continue on the next line after a backslash
    return re.findall(r'X\(\w+,[\s\\]*"([^"]+)",[\s\\]*"([^"]+)"\)', block)


def read_abi():
    """The ABI version this build speaks, from yard_shm.h."""
    text = open(os.path.join(HERE, "..", "..", "shm", "yard_shm.h")).read()
    return int(re.search(r"#define YARD_SHM_ABI_VERSION (\d+)", text).group(1))


REASONS = read_reasons()
HELP = dict(REASONS)
ABI = read_abi()


def yardctl(*args, timeout=20, env=None):
    e = dict(os.environ)
    e.pop("YARD_INSTANCE", None)
    if env:
        e.update(env)
    p = subprocess.run([YARDCTL, *args], capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


class Filler:
    """shm_fill running as the instance's dataplane."""

    def __init__(self, tag, *args):
        self.instance = "t-%s-%d" % (tag, os.getpid())
        self.proc = subprocess.Popen([SHM_FILL, self.instance, *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("shm_fill did not start: %r" % line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        path = "/dev/shm/yard-" + self.instance
        if os.path.exists(path):
            os.unlink(path)


def check(name, fn):
    global PASSED, FAILED
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any failure is reported and counted
        FAILED += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        return
    PASSED += 1
    print("ok   %s" % name)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def in_bucket_of(got, value):
    """A histogram quantile: the value itself up to 1/16 above it."""
    return value <= got <= value + value / 16


# ---------------------------------------------------------------- help, usage


def test_help():
    rc, out, _ = yardctl("--help")
    expect(rc == 0 and "stats" in out and "usage: yardctl" in out, "yardctl --help: %d %r" % (rc, out))
    rc, out, _ = yardctl("stats", "--help")
    expect(rc == 0 and "--watch" in out and "--count" in out, "stats --help: %d %r" % (rc, out))
    rc, out, _ = yardctl("help", "stats")
    expect(rc == 0 and "--watch" in out, "help stats: %d" % rc)


def test_usage_errors_exit_2():
    for args in [(), ("bogus",), ("stats", "-o", "xml"), ("stats", "--watch", "0"),
                 ("stats", "--watch", "abc"), ("stats", "--count", "-1"), ("stats", "--nope"),
                 ("stats", "extra"), ("-i", "bad/name", "stats"), ("-i", "x" * 32, "stats")]:
        rc, out, err = yardctl(*args)
        expect(rc == 2, "yardctl %s: exit %d, want 2" % (" ".join(args), rc))
        expect(err.strip() != "", "yardctl %s: says nothing on stderr" % " ".join(args))


def test_missing_instance_exit_1():
    inst = "t-missing-%d" % os.getpid()
    rc, out, err = yardctl("-i", inst, "stats")
    expect(rc == 1, "exit %d, want 1" % rc)
    expect("no appliance instance '%s' (no /dev/shm/yard-%s)" % (inst, inst) in err, err)
    expect(out == "", "nothing on stdout: %r" % out)
    # the environment variable names the instance too
    rc, _, err = yardctl("stats", env={"YARD_INSTANCE": inst})
    expect(rc == 1 and inst in err, "YARD_INSTANCE: %d %r" % (rc, err))


def test_abi_mismatch_exit_1():
    with Filler("abi", "--abi", str(ABI + 1)) as f:
        rc, out, err = yardctl("-i", f.instance, "stats", "-o", "json")
        expect(rc == 1, "exit %d, want 1" % rc)
        expect("ABI version %d, this program speaks version %d" % (ABI + 1, ABI) in err, err)
        expect("run matching versions of yard-dataplane, yard-control and yardctl" in err, err)


# ---------------------------------------------------------------- snapshot


def test_json_numbers():
    with Filler("json") as f:
        rc, out, err = yardctl("-i", f.instance, "stats", "-o", "json")
        expect(rc == 0, "exit %d: %s" % (rc, err))
        d = json.loads(out)
        expect(d["instance"] == f.instance, d["instance"])

        dp = d["dataplane"]
        expect(dp["pid"] == f.proc.pid, "pid %r vs %d" % (dp["pid"], f.proc.pid))
        expect(dp["alive"] is True, "alive %r" % dp["alive"])
        expect(0 <= dp["heartbeat_age_ms"] < 1000, "heartbeat age %r" % dp["heartbeat_age_ms"])
        expect(0 <= dp["uptime_s"] < 30, "uptime %r" % dp["uptime_s"])
        expect(dp["mode"] == "pipeline" and dp["ready"] is True, dp)
        expect(dp["cmd_applied_seq"] == 42 and dp["tsc_hz"] == 2000000000, dp)
        expect(d["control"]["pid"] == 0 and d["control"]["alive"] is False, d["control"])

        t = d["totals"]
        # lcores 0, 2, 3 only: lcore 5 is not in use
        want = {"rx_packets": 1500, "rx_messages": 1490, "routed": 1400, "tx_packets": 1380,
                "arp_rx": 5, "arp_replies": 5, "busy_cycles": 4000000, "punted": 0,
                "dropped": 3 + 10 + 60 + 30 + 20}
        for k, v in want.items():
            expect(t[k] == v, "totals.%s = %r, want %d" % (k, t.get(k), v))

        drops = d["drops"]
        expect(list(drops) == [n for n, _ in REASONS], "every reason, in order: %r" % list(drops))
        want = {"arp_ignored": 3, "bad_envelope": 10, "no_route": 60, "shed": 30, "tx_full": 20}
        for name, _ in REASONS:
            expect(drops[name] == want.get(name, 0), "drops.%s = %r" % (name, drops[name]))

        cl = d["classes"]
        expect([c["class"] for c in cl] == [0, 1, 2, 3], cl)
        expect([c["routed"] for c in cl] == [500, 300, 100, 0], cl)
        expect([c["tx"] for c in cl] == [490, 290, 100, 0], cl)
        expect([c["dropped"] for c in cl] == [10, 10, 0, 30], cl)

        expect(len(d["ports"]) == 1, "only port 0 is in use: %r" % d["ports"])
        p = d["ports"][0]
        want = {"port_id": 0, "name": "net_tap0", "mac": "02:00:5e:00:00:01",
                "ipv4": "198.18.0.1", "prefix_len": 24, "link_up": True,
                "link_speed_mbps": 10000, "ipackets": 1500, "opackets": 1380, "ibytes": 150000,
                "obytes": 138000, "imissed": 4, "ierrors": 1, "oerrors": 0, "rx_nombuf": 2}
        for k, v in want.items():
            expect(p[k] == v, "ports[0].%s = %r, want %r" % (k, p.get(k), v))

        lc = {l["lcore"]: l for l in d["lcores"]}
        expect(sorted(lc) == [0, 2, 3], "lcores in use: %r" % sorted(lc))
        expect(lc[0]["role"] == "agent" and lc[2]["role"] == "worker", d["lcores"])
        expect(lc[2]["rx_packets"] == 1000 and lc[2]["routed"] == 900, lc[2])
        expect(lc[2]["tx_packets"] == 880 and lc[2]["dropped"] == 120, lc[2])
        expect(lc[0]["dropped"] == 3 and lc[3]["dropped"] == 0, d["lcores"])
        expect(lc[2]["cycles_per_msg"] == 3000, "3e6 cycles / 1000 rx: %r" % lc[2])
        expect(lc[3]["cycles_per_msg"] == 2000, "1e6 cycles / 500 rx: %r" % lc[3])
        expect(lc[0]["cycles_per_msg"] is None, "agent received nothing: %r" % lc[0])
        # busy share of the uptime at 2 GHz
        busy = 100 * 3e6 / (2e9 * dp["uptime_s"])
        expect(abs(lc[2]["busy_pct"] - min(busy, 100)) <= 0.05 * min(busy, 100),
               "busy %r, want about %.2f" % (lc[2]["busy_pct"], busy))

        lat = d["latency_ns"]
        # merged: 190 x 2000, 9 x 20000, 1 x 500000
        expect(lat["count"] == 200, lat)
        expect(in_bucket_of(lat["p50"], 2000) and in_bucket_of(lat["p90"], 2000), lat)
        expect(in_bucket_of(lat["p99"], 20000), lat)
        expect(lat["p999"] == 500000 and lat["max"] == 500000, lat)
        expect(abs(lat["mean"] - (190 * 2000 + 9 * 20000 + 500000) / 200) < 1e-6, lat)


def test_table():
    with Filler("table") as f:
        rc, out, err = yardctl("-i", f.instance, "stats")
        expect(rc == 0, "exit %d: %s" % (rc, err))
        expect("Switchyard instance '%s'" % f.instance in out, out[:200])
        expect(re.search(r"dataplane\s+pid %d, alive" % f.proc.pid, out), "dataplane line")
        expect("mode pipeline" in out and "applied command seq 42" in out, "header line")
        lines = out.splitlines()
        for name, help_text in REASONS:
            row = [l for l in lines if re.match(r"\s+%s\s+\d+" % re.escape(name), l)]
            expect(len(row) == 1, "one row for reason %s" % name)
            n = int(row[0].split()[1])
            if n:
                expect(row[0].rstrip().endswith(help_text), "help for %s: %r" % (name, row[0]))
            else:
                expect(help_text not in row[0], "no help for zero %s: %r" % (name, row[0]))
        for name, n in [("no_route", 60), ("shed", 30), ("tx_full", 20), ("bad_envelope", 10),
                        ("arp_ignored", 3)]:
            expect(re.search(r"^\s+%s\s+%d\s+%s$" % (name, n, re.escape(HELP[name])), out, re.M),
                   "row %s %d" % (name, n))
        expect(re.search(r"net_tap0\s+02:00:5e:00:00:01\s+198\.18\.0\.1/24\s+up 10G\s+1500\s+1380"
                         r"\s+4\s+2\s+1\s+0", out), "port row")
        expect("ghost" not in out and "777777" not in out, "unused port or lcore shown")
        expect(re.search(r"^\s+2\s+worker\s+0\s+1000\s+900\s+880\s+120\s+[\d.]+\s+3000$", out,
                         re.M), "lcore 2 row")
        m = re.search(r"p50 ([\d.]+)\s+p90 ([\d.]+)\s+p99 ([\d.]+)\s+p99\.9 ([\d.]+)\s+max ([\d.]+)",
                      out)
        expect(m, "latency line")
        p50, p90, p99, p999, mx = map(float, m.groups())
        expect(2.0 <= p50 <= 2.13, "p50 %s us" % p50)
        expect(2.0 <= p90 <= 2.13 and 20.0 <= p99 <= 21.26, "p90 %s p99 %s" % (p90, p99))
        expect(p999 == 500.0 and mx == 500.0, "p99.9 %s max %s" % (p999, mx))


def test_dead_dataplane_still_readable():
    f = Filler("dead", "--keep")
    try:
        f.proc.kill()  # SIGKILL: no clean shutdown, the segment stays
        f.proc.wait(timeout=10)
        rc, out, err = yardctl("-i", f.instance, "stats", "-o", "json")
        expect(rc == 0, "exit %d: %s" % (rc, err))
        d = json.loads(out)
        expect(d["dataplane"]["alive"] is False, d["dataplane"])
        expect(d["totals"]["rx_packets"] == 1500, "counters survive the dataplane")
        rc, out, _ = yardctl("-i", f.instance, "stats")
        expect(rc == 0 and "NOT RUNNING" in out, "table says the dataplane is down")
    finally:
        f.__exit__()


def test_cleanly_stopped_dataplane():
    with Filler("stopped", "--pid", "0") as f:
        rc, out, err = yardctl("-i", f.instance, "stats")
        expect(rc == 0, err)
        expect(re.search(r"^\s+dataplane\s+stopped$", out, re.M), out[:300])
        expect(re.search(r"^\s+control\s+not started$", out, re.M), out[:300])
        rc, out, err = yardctl("-i", f.instance, "stats", "-o", "json")
        d = json.loads(out)
        expect(d["dataplane"]["alive"] is False and d["dataplane"]["pid"] == 0, d["dataplane"])
        expect(d["totals"]["tx_packets"] == 1380, d["totals"])


def test_stale_heartbeat_is_not_alive():
    with Filler("stale", "--no-heartbeat") as f:
        time.sleep(1.3)
        rc, out, err = yardctl("-i", f.instance, "stats", "-o", "json")
        expect(rc == 0, err)
        dp = json.loads(out)["dataplane"]
        expect(dp["alive"] is False and dp["heartbeat_age_ms"] > 1000, dp)


# ---------------------------------------------------------------- watch


def test_watch_json_rates():
    rate = 20000
    with Filler("watch", "--rate", str(rate)) as f:
        t0 = time.monotonic()
        rc, out, err = yardctl("-i", f.instance, "stats", "--watch", "1", "--count", "2",
                               "-o", "json")
        took = time.monotonic() - t0
        expect(rc == 0, "exit %d: %s" % (rc, err))
        expect(1.8 <= took <= 6, "two 1 s lines took %.2f s" % took)
        lines = out.splitlines()
        expect(len(lines) == 2, "two lines: %r" % lines)
        for line in lines:
            d = json.loads(line)
            r = d["rates"]
            expect(0.9 <= d["interval_s"] <= 1.5, d["interval_s"])
            expect(d["alive"] is True, d)
            for k in ("rx_packets", "rx_messages", "routed", "tx_packets"):
                expect(0.5 * rate <= r[k] <= 1.5 * rate, "%s %r, want about %d" % (k, r[k], rate))
            expect(0.5 * rate * 0.15 <= r["dropped"] <= 1.5 * rate * 0.15, r)
            expect(set(d["drops"]) == {"no_route", "shed"}, "nonzero reasons: %r" % d["drops"])
            expect(0.5 * rate / 10 <= d["drops"]["no_route"] <= 1.5 * rate / 10, d["drops"])
            expect(0.5 * rate / 20 <= d["drops"]["shed"] <= 1.5 * rate / 20, d["drops"])
            lat = d["latency_ns"]
            # the interval holds only the 50 us messages, not the 2 us history
            expect(in_bucket_of(lat["p50"], 50000) and in_bucket_of(lat["p99"], 50000), lat)
            expect(0.5 * rate <= lat["count"] <= 1.5 * rate, lat)


def test_watch_table_lines():
    rate = 10000
    with Filler("wtab", "--rate", str(rate)) as f:
        rc, out, err = yardctl("-i", f.instance, "stats", "--watch", "0.5", "--count", "3")
        expect(rc == 0, "exit %d: %s" % (rc, err))
        lines = out.splitlines()
        expect(len(lines) == 4, "header and 3 lines: %r" % lines)
        expect(lines[0].split()[:4] == ["time", "rx", "pkt/s", "rx"], lines[0])
        expect("rx msg/s" in lines[0] and "drop/s" in lines[0] and "p99 us" in lines[0], lines[0])
        for line in lines[1:]:
            cols = line.split()
            expect(re.match(r"\d\d:\d\d:\d\d$", cols[0]), line)
            for rx in map(float, cols[1:5]):  # rx pkt, rx msg, routed, tx
                expect(0.5 * rate <= rx <= 1.5 * rate, "rate %s in %r" % (rx, line))
            expect(0.5 * rate * 0.15 <= float(cols[5]) <= 1.5 * rate * 0.15, line)
            expect(in_bucket_of(float(cols[6]) * 1000, 50000), "p50 in %r" % line)
            expect(in_bucket_of(float(cols[7]) * 1000, 50000), "p99 in %r" % line)
            # top reasons, highest first
            expect(cols[8].startswith("no_route=") and cols[9].startswith("shed="), line)
            expect(len(cols) == 10, "only the nonzero reasons: %r" % line)


def test_watch_header_repeats():
    with Filler("whdr") as f:
        rc, out, err = yardctl("-i", f.instance, "stats", "--watch", "0.02", "--count", "41")
        expect(rc == 0, err)
        headers = [i for i, l in enumerate(out.splitlines()) if "rx msg/s" in l]
        expect(headers == [0, 21, 42], "header rows at %r" % headers)


def test_watch_stops_cleanly_on_sigterm():
    with Filler("wsig") as f:
        p = subprocess.Popen([YARDCTL, "-i", f.instance, "stats", "--watch", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.1)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=5)
        expect(p.returncode == 0, "exit %r after SIGTERM: %s" % (p.returncode, err))
        expect(len(out.splitlines()) >= 4, "lines before the signal: %r" % out)


# ---------------------------------------------------------------- top


def test_top_frames_plain_when_not_a_tty():
    rate = 20000
    with Filler("top", "--rate", str(rate)) as f:
        rc, out, err = yardctl("-i", f.instance, "top", "--count", "2", "--interval", "0.5")
        expect(rc == 0, "exit %d: %s" % (rc, err))
        expect("\033" not in out, "no escape codes when stdout is not a terminal")
        frames = [fr for fr in out.split("yardctl top - ")[1:]]
        expect(len(frames) == 2, "two frames: %r" % out[:300])
        for fr in frames:
            expect(fr.startswith("instance '%s'" % f.instance), fr[:80])
            expect(re.search(r"dataplane: pid %d, alive, heartbeat \d+ ms ago" % f.proc.pid, fr),
                   fr[:300])
            m = re.search(r"^total\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", fr,
                          re.M)
            expect(m, "totals row in %r" % fr)
            for v in map(float, m.groups()[:4]):
                expect(0.5 * rate <= v <= 1.5 * rate, "rate %s, want about %d" % (v, rate))
            expect(0.5 * rate * 0.15 <= float(m.group(5)) <= 1.5 * rate * 0.15, m.group(0))
            # only the nonzero reasons, with their rates and help
            nr = re.search(r"^no_route\s+(\d+)\s+%s$" % re.escape(HELP["no_route"]), fr, re.M)
            sh = re.search(r"^shed\s+(\d+)\s+%s$" % re.escape(HELP["shed"]), fr, re.M)
            expect(nr and sh, "drop rows in %r" % fr)
            expect(0.5 * rate / 10 <= int(nr.group(1)) <= 1.5 * rate / 10, nr.group(0))
            expect(0.5 * rate / 20 <= int(sh.group(1)) <= 1.5 * rate / 20, sh.group(0))
            expect(not re.search(r"^bad_envelope\s", fr, re.M), "zero-rate reasons hidden")
            for c in range(4):
                expect(re.search(r"^%d\s+[\d.]+\s+[\d.]+\s+[\d.]+$" % c, fr, re.M), "class %d" % c)
            lat = re.search(r"p50 ([\d.]+)\s+p90 ([\d.]+)\s+p99 ([\d.]+)\s+max ([\d.]+)", fr)
            expect(lat, "latency line")
            for v in map(float, lat.groups()):  # only the 50 us messages of the interval
                expect(in_bucket_of(v * 1000, 50000), "latency %s us" % v)
            for lc, role in ((0, "agent"), (2, "worker"), (3, "worker")):
                expect(re.search(r"^%d\s+%s\s+[\d.]+$" % (lc, role), fr, re.M), "lcore %d" % lc)
            expect("777777" not in fr and not re.search(r"^5\s", fr, re.M), "unused lcore")


def test_top_usage_and_missing_instance():
    for args in [("top", "--interval", "0"), ("top", "--count", "0"), ("top", "extra"),
                 ("top", "--bogus")]:
        rc, _, err = yardctl(*args)
        expect(rc == 2 and err.strip(), "yardctl %s: exit %d" % (" ".join(args), rc))
    rc, out, err = yardctl("-i", "t-nope-%d" % os.getpid(), "top", "--count", "1")
    expect(rc == 1 and "no appliance instance" in err and out == "", "%d %r" % (rc, err))


# ---------------------------------------------------------------- RPC commands

NOUN_VERBS = {"endpoints": ["list", "add", "del"], "topics": ["list"],
              "routes": ["list", "add", "del"], "config": ["get"], "stats": ["get"],
              "wait": ["applied"]}
METHODS = {("endpoints", "list"): "endpoints.list", ("endpoints", "add"): "endpoints.add",
           ("endpoints", "del"): "endpoints.del", ("topics", "list"): "topics.list",
           ("routes", "list"): "routes.list", ("routes", "add"): "routes.add",
           ("routes", "del"): "routes.del", ("config", "get"): "config.get",
           ("stats", "get"): "stats.get", ("wait", "applied"): "wait.applied"}


def test_help_everywhere():
    rc, out, _ = yardctl("--help")
    expect(rc == 0, "--help")
    for noun, verbs in NOUN_VERBS.items():
        expect(re.search(r"^  %s\s" % noun, out, re.M), "%s in yardctl --help" % noun)
        rc, nout, err = yardctl(noun, "--help")
        expect(rc == 0, "%s --help: exit %d %s" % (noun, rc, err))
        for v in verbs:
            expect("%s %s" % (noun, v) in nout, "%s --help mentions %s: %r" % (noun, v, nout))
            for form in ((noun, v, "--help"), (noun, v, "-h"), ("help", noun, v)):
                rc, vout, err = yardctl(*form)
                expect(rc == 0 and vout.startswith("usage: yardctl"), "%s: %d" % (form, rc))
                expect(METHODS[(noun, v)] in vout, "%s names its method" % (form,))
    for noun in ("status", "top", "stats"):
        rc, out, _ = yardctl(noun, "--help")
        expect(rc == 0 and out.startswith("usage: yardctl"), "%s --help" % noun)
    rc, out, _ = yardctl("status", "--help")
    expect("status.get" in out, out)
    rc, out, _ = yardctl("top", "--help")
    expect("--interval" in out and "--count" in out, out)


def test_rpc_usage_errors_exit_2():
    for args in [("endpoints",), ("endpoints", "frob"), ("endpoints", "add", "x"),
                 ("endpoints", "add", "x", "1.2.3.4"), ("endpoints", "add", "x", "1.2.3:9"),
                 ("endpoints", "add", "x", "1.2.3.4:0"), ("endpoints", "add", "x", "1.2.3.4:70000"),
                 ("endpoints", "add", "x", "1.2.3.4:9", "--mac", "02:00:00:00:00:01"),
                 ("endpoints", "add", "x", "1.2.3.4:9", "--lease-ms", "-5"),
                 ("endpoints", "del"), ("endpoints", "del", "a", "b", "c"),
                 ("endpoints", "list", "a", "b"), ("routes", "add", "r", "1.2.3.4:5", "--mac", "zz"),
                 ("routes", "del"), ("wait", "applied"), ("wait", "applied", "abc"),
                 ("wait", "applied", "5", "--timeout-ms", "x"), ("status", "extra"),
                 ("-o", "xml", "status"), ("status", "-o", "yaml"), ("config", "get", "more"),
                 ("-t", "0", "status"), ("help", "endpoints", "frob")]:
        rc, out, err = yardctl("-s", "/nonexistent/yard.sock", *args)
        expect(rc == 2, "yardctl %s: exit %d, want 2 (%s)" % (" ".join(args), rc, err.strip()))
        expect(err.strip() != "", "yardctl %s: says nothing on stderr" % " ".join(args))
    # without -s the instance names the socket, so it must be a usable name
    rc, _, err = yardctl("-i", "bad/name", "status")
    expect(rc == 2 and "instance name 'bad/name' is unusable" in err, "%d %r" % (rc, err))


def test_no_daemon_exit_3():
    sock = "/tmp/yard-nope-%d/x.sock" % os.getpid()
    for args in [("status",), ("endpoints", "list"), ("endpoints", "add", "a", "1.2.3.4:5"),
                 ("routes", "list"), ("config", "get"), ("stats", "get"),
                 ("wait", "applied", "3")]:
        rc, out, err = yardctl("-s", sock, *args)
        expect(rc == 3, "yardctl %s: exit %d, want 3" % (" ".join(args), rc))
        expect("is yard-control running? socket %s: No such file or directory" % sock in err, err)
        expect(out == "", out)
    # the default socket path follows the instance
    rc, _, err = yardctl("-i", "t-nope-%d" % os.getpid(), "status")
    expect(rc == 3 and "/run/yard/t-nope-%d.sock" % os.getpid() in err, err)
    # a socket file nobody listens on (the daemon died)
    d = tempfile.mkdtemp(prefix="yard-ctl-")
    try:
        path = os.path.join(d, "dead.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
        rc, _, err = yardctl("-s", path, "status")
        expect(rc == 3 and "nothing listens" in err, "%d %r" % (rc, err))
    finally:
        shutil.rmtree(d)


class FakeDaemon:
    """A msgpack-rpc server written with Python's msgpack, answering from a
    table {method: (error, result)}; it records what it was asked."""

    def __init__(self, answers, mute=False):
        self.answers, self.mute, self.calls = answers, mute, []
        self.dir = tempfile.mkdtemp(prefix="yard-ctl-")
        self.path = os.path.join(self.dir, "api.sock")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.conn, args=(conn,), daemon=True).start()

    def conn(self, c):
        u = msgpack.Unpacker(raw=False)
        c.settimeout(0.2)
        while not self.stop:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            if not data:
                break
            u.feed(data)
            for msg in u:
                self.calls.append((msg[2], msg[3]))
                if self.mute:
                    continue
                err, res = self.answers.get(msg[2], ({"code": -32601, "message": "no method %s"
                                                      % msg[2]}, None))
                c.sendall(msgpack.packb([1, msg[1], err, res]))
        c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()
        self.sock.close()
        shutil.rmtree(self.dir)


STATUS = {"instance": "lab", "node": "n1", "version": "0.1.0",
          "control": {"pid": 100, "uptime_s": 3725.5, "state_dir": "/var/lib/yard/lab",
                      "wal_records": 12, "wal_bytes": 3456},
          "dataplane": {"state": "up", "pid": 200, "heartbeat_age_ms": 40, "generation": 3,
                        "applied_seq": 17, "ready": True},
          "directory": {"endpoints": 2, "groups": 1, "topics": 1, "subscriptions": 2,
                        "routes": 1, "locations": 5},
          "synced": True, "seq": 17}
ENDPOINTS = [
    {"name": "svc.orders", "kind": "group", "locations": [
        {"ipv4": "198.18.0.10", "port": 9000, "origin": "static", "node": "n1",
         "lease_ms_left": None},
        {"ipv4": "198.18.0.11", "port": 9001, "origin": "registered", "node": "n1",
         "lease_ms_left": 2500}]},
    {"name": "svc.empty", "kind": "endpoint", "locations": []}]


def test_fake_daemon_tables_and_json():
    answers = {"status.get": (None, STATUS), "endpoints.list": (None, ENDPOINTS),
               "topics.list": (None, [{"name": "news", "subscribers": [
                   {"name": "reader", "ipv4": "198.18.0.12", "port": 7000, "node": "n2",
                    "lease_ms_left": 30000}]}]),
               "routes.list": (None, [{"name": "far.svc", "ipv4": "198.18.1.1", "port": 9100,
                                       "mac": None, "origin": "config"}]),
               "config.get": (None, {"instance": "lab", "api": {"socket": "/run/yard/lab.sock",
                                                                "mode": 432}}),
               "stats.get": (None, {"rpc_requests": 5, "wal_fsyncs": 2})}
    with FakeDaemon(answers) as d:
        rc, out, err = yardctl("-s", d.path, "status")
        expect(rc == 0, "status: %d %s" % (rc, err))
        expect(re.search(r"^instance\s+lab$", out, re.M), out)
        expect(re.search(r"^control\s+pid 100, up 1h02m05s, state /var/lib/yard/lab, WAL 12 "
                         r"records / 3456 bytes$", out, re.M), out)
        expect(re.search(r"^dataplane\s+up, pid 200, heartbeat 40 ms ago, generation 3, applied "
                         r"seq 17, ready$", out, re.M), out)
        expect(re.search(r"^directory\s+2 endpoints, 1 groups, 1 topics, 2 subscriptions, 1 "
                         r"routes, 5 locations$", out, re.M), out)
        expect(re.search(r"^synced\s+yes", out, re.M), out)
        rc, out, err = yardctl("-s", d.path, "-o", "json", "status")
        expect(rc == 0 and json.loads(out) == STATUS, "status json: %r" % out)

        rc, out, err = yardctl("-s", d.path, "endpoints", "list", "svc.")
        expect(rc == 0, err)
        lines = out.splitlines()
        expect(lines[0].split() == ["NAME", "KIND", "IPV4", "PORT", "ORIGIN", "NODE", "LEASE"],
               lines[0])
        expect(lines[1].split() == ["svc.orders", "group", "198.18.0.10", "9000", "static", "n1",
                                    "-"], lines[1])
        expect(lines[2].split() == ["svc.orders", "group", "198.18.0.11", "9001", "registered",
                                    "n1", "2.5s"], lines[2])
        expect(lines[3].split()[:2] == ["svc.empty", "endpoint"], lines[3])
        # aligned: a column starts at the same offset on every row
        starts = [l.index("198.18.0.1") for l in lines[1:3]]
        expect(starts[0] == starts[1] == lines[0].index("IPV4"), "aligned: %r" % lines)
        expect(d.calls[-1] == ("endpoints.list", [{"prefix": "svc."}]), d.calls[-1])
        rc, out, err = yardctl("-s", d.path, "endpoints", "list", "-o", "json")
        expect(rc == 0 and json.loads(out) == ENDPOINTS, out)
        expect(d.calls[-1] == ("endpoints.list", []), "no arguments: params []: %r" % (d.calls[-1],))

        rc, out, err = yardctl("-s", d.path, "topics", "list")
        expect(rc == 0 and out.splitlines()[1].split() == ["news", "reader", "198.18.0.12",
                                                           "7000", "n2", "30s"], out)
        rc, out, err = yardctl("-s", d.path, "routes", "list")
        expect(rc == 0 and out.splitlines()[1].split() == ["far.svc", "198.18.1.1", "9100", "-",
                                                           "config"], out)
        rc, out, err = yardctl("-s", d.path, "config", "get")
        expect(rc == 0 and out == "instance: lab\napi:\n  socket: /run/yard/lab.sock\n"
               "  mode: 432\n", repr(out))
        rc, out, err = yardctl("-s", d.path, "stats", "get")
        expect(rc == 0 and out == "rpc_requests: 5\nwal_fsyncs: 2\n", repr(out))


def test_fake_daemon_changes_and_wait():
    answers = {"endpoints.add": (None, {"seq": 41}), "endpoints.del": (None, {"seq": 42,
                                                                              "removed": 2}),
               "routes.add": (None, {"seq": 43}), "routes.del": (None, {"seq": 44}),
               "wait.applied": (None, {"applied_seq": 44})}
    with FakeDaemon(answers) as d:
        rc, out, err = yardctl("-s", d.path, "endpoints", "add", "svc.a", "198.18.0.5:9000",
                               "--lease-ms", "30000", "--wait", "--timeout-ms", "2500")
        expect(rc == 0, "%d %s" % (rc, err))
        expect(d.calls[-2] == ("endpoints.add", [{"name": "svc.a", "ipv4": "198.18.0.5",
                                                  "port": 9000, "lease_ms": 30000}]), d.calls)
        expect(d.calls[-1] == ("wait.applied", [{"seq": 41, "timeout_ms": 2500}]), d.calls)
        expect("seq 41" in out and "applied" in out, out)
        rc, out, err = yardctl("-s", d.path, "-o", "json", "endpoints", "del", "svc.a")
        expect(rc == 0 and json.loads(out) == {"seq": 42, "removed": 2}, out)
        expect(d.calls[-1] == ("endpoints.del", [{"name": "svc.a"}]), d.calls[-1])
        rc, out, err = yardctl("-s", d.path, "routes", "add", "far", "198.18.1.1:9100", "--mac",
                               "02:00:5e:00:00:09", "--wait", "-o", "json")
        expect(rc == 0 and json.loads(out) == {"seq": 43, "applied_seq": 44}, out)
        expect(d.calls[-2] == ("routes.add", [{"name": "far", "ipv4": "198.18.1.1",
                                               "port": 9100, "mac": "02:00:5e:00:00:09"}]),
               d.calls)
        expect(d.calls[-1] == ("wait.applied", [{"seq": 43, "timeout_ms": 5000}]), d.calls)
        rc, out, err = yardctl("-s", d.path, "wait", "applied", "44", "--timeout-ms", "100")
        expect(rc == 0 and out == "applied seq 44\n", repr(out))


def test_fake_daemon_errors_exit_1_and_4():
    answers = {"endpoints.add": ({"code": 2, "message": "svc.a already has 198.18.0.5:9000"},
                                 None),
               "wait.applied": ({"code": 4, "message": "seq 9 not applied within 100 ms"}, None)}
    with FakeDaemon(answers) as d:
        rc, out, err = yardctl("-s", d.path, "endpoints", "add", "svc.a", "198.18.0.5:9000")
        expect(rc == 1, "exit %d" % rc)
        expect(err == "yardctl: endpoints.add: svc.a already has 198.18.0.5:9000 (code 2)\n",
               repr(err))
        expect(out == "", out)
        rc, out, err = yardctl("-s", d.path, "config", "get")
        expect(rc == 1 and err == "yardctl: config.get: no method config.get (code -32601)\n",
               repr(err))
        rc, out, err = yardctl("-s", d.path, "wait", "applied", "9", "--timeout-ms", "100")
        expect(rc == 4 and "(code 4)" in err, "daemon-side timeout: %d %r" % (rc, err))
    with FakeDaemon({}, mute=True) as d:
        t0 = time.monotonic()
        rc, out, err = yardctl("-s", d.path, "-t", "300", "status")
        took = time.monotonic() - t0
        expect(rc == 4, "no answer: exit %d %r" % (rc, err))
        expect("no answer" in err and "300 ms" in err, err)
        expect(took < 5, "took %.1f s" % took)


for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        check(name, fn)

print("%d passed, %d failed" % (PASSED, FAILED))
sys.exit(1 if FAILED else 0)
