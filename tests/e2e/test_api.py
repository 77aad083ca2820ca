"""test_api.py - the management API (PROTOCOL.md §2), yardctl, /metrics and
/health, and the write-ahead log under SIGKILL.

The API is driven by control.Rpc, a client written here with python3-msgpack
alone, as an operator's own tooling would be; yardctl is run as an operator
runs it. /metrics is judged by Debian's promtool and scraped by a real
Prometheus server.
"""
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request

import msgpack

from control import ConfigOnly, Control, Rpc, RpcError, free_port
from envelope import Envelope
from harness import Dataplane, Failure, Lab, Route, _remove, check, sh, wait_for


def expect_error(fn, code, what):
    try:
        fn()
    except RpcError as e:
        check(e.code == code, "%s: error code %r (%s), expected %r" % (
            what, e.code, e.message, code))
        return e
    raise Failure("%s: no error" % what)


def test_api(build):
    """Every method answers as documented; changes go live (wait.applied);
    malformed requests get error maps and never hurt the daemon; the socket's
    mode restricts who may connect."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("cfg.route", lab.b.ip, 7600)]) as dp, \
            Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        mode = stat.S_IMODE(os.stat(ctl.socket).st_mode)
        check(mode == 0o660, "socket mode %o, expected 660" % mode)

        st = ctl.status()
        for key in ("instance", "node", "version", "control", "dataplane", "directory", "synced",
                    "seq"):
            check(key in st, "status.get has no %r: %r" % (key, st))
        check(st["dataplane"]["state"] == "up" and st["dataplane"]["ready"], "status: %r" % st)

        at = b.listen(7500)
        res = ctl.call("routes.add", name="api.route", ipv4=b.ip, port=7500)
        ctl.wait_applied(res["seq"])
        a.send(dp.addr(a), Envelope("api.route", "x", id=1).encode())
        check(len(at.recv(1, timeout=2)) == 1, "a route added through the API did not work")
        routes = {r["name"]: r for r in ctl.call("routes.list")}
        check(routes["api.route"]["origin"] == "api" and routes["cfg.route"]["origin"] == "config",
              "routes.list: %r" % routes)

        # Moving a route: the name never disappears, the old address stops.
        at2 = b.listen(7501)
        res = ctl.call("routes.add", name="api.route", ipv4=b.ip, port=7501, mac=None)
        ctl.wait_applied(res["seq"])
        a.send(dp.addr(a), Envelope("api.route", "x", id=2).encode())
        check(len(at2.recv(1, timeout=2)) == 1, "moved route did not deliver")
        at.expect_nothing(0.3)

        res = ctl.call("endpoints.add", name="ep", ipv4=b.ip, port=7502)
        res = ctl.call("endpoints.add", name="ep", ipv4=b.ip, port=7503)
        ctl.wait_applied(res["seq"])
        eps = {e["name"]: e for e in ctl.call("endpoints.list", prefix="ep")}
        check(list(eps) == ["ep"] and eps["ep"]["kind"] == "group", "endpoints.list: %r" % eps)
        res = ctl.call("endpoints.del", name="ep", ipv4=b.ip, port=7502)
        check(res["removed"] == 1, "endpoints.del removed %r" % res)
        res = ctl.call("routes.del", name="api.route")
        ctl.wait_applied(res["seq"])
        check("api.route" not in {r["name"] for r in ctl.call("routes.list")}, "route not deleted")
        check(ctl.call("topics.list") == [], "topics.list not empty")
        cfg = ctl.call("config.get")
        check(cfg["instance"] == dp.instance and cfg["control"]["socket"] == ctl.socket,
              "config.get: %r" % cfg)
        stats = ctl.call("stats.get")
        check(stats["dataplane"]["events"]["rx_packets"] > 0, "stats.get: %r" % stats)

        # Errors are {code, message} maps; the daemon survives all of them.
        expect_error(lambda: ctl.call("no.such"), -32601, "unknown method")
        expect_error(lambda: ctl.call("routes.add", name="x"), -32602, "missing ipv4/port")
        expect_error(lambda: ctl.call("routes.add", name="x", ipv4="300.1.1.1", port=1), -32602,
                     "bad address")
        expect_error(lambda: ctl.call("routes.add", name="x" * 64, ipv4=b.ip, port=1), -32602,
                     "64-byte name")
        expect_error(lambda: ctl.call("routes.add", name="x", ipv4=b.ip, port=1, colour=1),
                     -32602, "unknown argument")
        expect_error(lambda: ctl.call("routes.del", name="nothing"), 1, "deleting nothing")
        expect_error(lambda: ctl.call("endpoints.del", name="nothing"), 1, "deleting nothing")
        expect_error(lambda: ctl.call("wait.applied", seq=10 ** 12, timeout_ms=200), 4,
                     "waiting for a sequence that never comes")

        c = Rpc(ctl.socket)
        c.send_raw(msgpack.packb([0, 7, "status.get"]))  # wrong arity
        r = c.read_response()
        check(r[0] == 1 and r[1] == 7 and r[2]["code"] == -32600, "wrong arity: %r" % r)
        c.send_raw(msgpack.packb({"not": "a request"}))
        r = c.read_response()
        check(r[2]["code"] == -32600, "a map instead of a request: %r" % r)
        c.send_raw(msgpack.packb([0, 8, 12, []]))  # method not a string
        r = c.read_response()
        check(r[1] == 8 and r[2]["code"] == -32600, "integer method: %r" % r)
        check(c.call("status.get")["instance"] == dp.instance, "connection unusable after errors")
        c.send_raw(b"\xc1\xc1\xc1")  # not msgpack at all
        r = c.read_response()
        check(r[2]["code"] == -32700, "garbage bytes: %r" % r)
        c.close()
        for junk in (b"\xdd\xff\xff\xff\xff", os.urandom(4096), b"\x94\x00"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(ctl.socket)
            s.sendall(junk)
            s.close()
        check(ctl.alive() and ctl.status()["instance"] == dp.instance,
              "yard-control did not survive malformed input")

        # Another user may not connect: the file mode is the access control.
        nobody = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
             "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
             ctl.socket], capture_output=True, text=True)
        check(nobody.returncode != 0 and "Permission denied" in nobody.stderr,
              "user nobody could connect to a 0660 root socket: %r" % nobody.stderr[-200:])


def test_yardctl(build):
    """yardctl NOUN VERB: tables, -o json, --wait, exit codes, and stats/top
    from shared memory with yard-control down."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        at = b.listen(7500)
        p = ctl.yardctl("routes", "add", "cli.route", "%s:7500" % b.ip, "--wait")
        check(p.returncode == 0, "routes add: %s" % p.stderr)
        a.send(dp.addr(a), Envelope("cli.route", "x", id=1).encode())
        check(len(at.recv(1, timeout=2)) == 1, "route added by yardctl --wait not live")
        out = ctl.yardctl("routes", "list").stdout
        check("cli.route" in out and b.ip in out and "7500" in out, "routes list table:\n" + out)
        js = json.loads(ctl.yardctl("-o", "json", "routes", "list").stdout)
        check(any(r["name"] == "cli.route" and r["port"] == 7500 for r in js), "json: %r" % js)
        st = json.loads(ctl.yardctl("-o", "json", "status").stdout)
        check(st["synced"] is True and st["dataplane"]["state"] == "up", "status json: %r" % st)
        check("up" in ctl.yardctl("status").stdout, "status table")
        p = ctl.yardctl("routes", "del", "nothing", check_rc=False)
        check(p.returncode == 1 and "nothing" in p.stderr, "del of nothing: rc %d %r" % (
            p.returncode, p.stderr))
        p = ctl.yardctl("routes", "frobnicate", check_rc=False)
        check(p.returncode == 2, "unknown verb: rc %d" % p.returncode)
        for args in (["--help"], ["routes", "--help"], ["routes", "add", "--help"],
                     ["endpoints", "list", "--help"], ["top", "--help"]):
            p = ctl.yardctl(*args, check_rc=False)
            check(p.returncode == 0 and "usage" in (p.stdout + p.stderr).lower(),
                  "yardctl %s: rc %d" % (" ".join(args), p.returncode))

        ctl.kill()
        p = ctl.yardctl("status", check_rc=False)
        check(p.returncode == 3, "status with yard-control down: rc %d, expected 3" % p.returncode)
        p = ctl.yardctl("stats", "-o", "json")
        check(json.loads(p.stdout)["dataplane"]["alive"], "stats from shm with the control down")
        p = ctl.yardctl("top", "--count", "2", "--interval", "0.2")
        check(p.returncode == 0 and "class" in p.stdout.lower(), "top:\n" + p.stdout[-500:])


def test_metrics(build):
    """/metrics passes promtool and a real Prometheus server scrapes it;
    /health says ready only with a live, synced dataplane."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("m.route", lab.b.ip, 7500)]) as dp, \
            Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        at = b.listen(7500)
        a.send(dp.addr(a), Envelope("m.route", "x", id=0).encode())  # resolves the next hop
        check(len(at.recv(1, timeout=2)) == 1, "traffic for the metrics did not flow")
        a.send(dp.addr(a), [Envelope("m.route", "x", id=i).encode() for i in range(1, 7)])
        check(len(at.recv(6, timeout=2)) == 6, "traffic for the metrics did not flow")
        status, text = ctl.http("/metrics")
        check(status == 200, "/metrics answered %d" % status)
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        check(p.returncode == 0, "promtool check metrics:\n%s%s" % (p.stdout, p.stderr))
        for name in ("yard_routed_total", "yard_drops_total", "yard_latency_seconds_bucket",
                     "yard_control_registrations_total", "yard_dataplane_up 1"):
            check(name in text, "/metrics has no %s" % name)
        status, body = ctl.http("/health")
        check(status == 200 and json.loads(body)["ready"], "/health: %d %s" % (status, body))

        # A real Prometheus server scrapes the appliance.
        tmp = tempfile.mkdtemp(prefix="yard-prom-")
        port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 1s}\nscrape_configs:\n"
                    "  - job_name: yard\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                    % ctl.metrics_port)
        prom = subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "log"), "w"))
        try:
            def routed():
                try:
                    q = "http://127.0.0.1:%d/api/v1/query?query=sum(yard_routed_total)" % port
                    with urllib.request.urlopen(q, timeout=2) as r:
                        res = json.load(r)["data"]["result"]
                    return float(res[0]["value"][1]) if res else None
                except OSError:
                    return None
            v = wait_for(routed, 30, "Prometheus to scrape yard_routed_total")
            check(v >= 7, "Prometheus sees %s routed, sent 7" % v)
        finally:
            prom.terminate()
            prom.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)

        dp.proc.kill()
        dp.proc.wait()
        def not_ready():
            s, body = ctl.http("/health")
            return (s, body) if s == 503 else None
        s, body = wait_for(not_ready, 5, "/health to say not ready with the dataplane dead")
        check(not json.loads(body)["ready"] and json.loads(body)["live"], "/health: %s" % body)
        check(ctl.http("/health/live")[0] == 200, "/health/live must stay 200")


def test_wal_kill(build):
    """SIGKILL yard-control at random points while changes stream in, many
    times: every acknowledged change survives; a torn record at the log's
    tail is detected, counted and never applied."""
    cfg = ConfigOnly("walk%d" % os.getpid())
    cfg.write_config()
    ctl = Control(cfg, build)
    rng = random.Random(7)
    acked = {}  # route name -> port of the last acknowledged add
    deleted = set()
    in_flight = None  # (name, port or None for a delete) of the call the kill cut short
    iterations = 25
    try:
        next_id = 0
        for it in range(iterations):
            ctl.start()
            got = {r["name"]: r["port"] for r in ctl.call("routes.list")}
            if in_flight is not None:
                # Not acknowledged: it may or may not have been made durable
                # before the kill. Either way, what is there now is the truth.
                name, port = in_flight
                allowed = {acked.get(name), port}
                check(got.get(name) in allowed, "iteration %d: %s is %r, expected one of %r" % (
                    it, name, got.get(name), allowed))
                if got.get(name) is None:
                    acked.pop(name, None)
                    deleted.add(name)
                else:
                    acked[name] = got[name]
                    deleted.discard(name)
            for name, port in acked.items():
                check(got.get(name) == port, "iteration %d: acknowledged %s -> %d lost (have %r)"
                      % (it, name, port, got.get(name)))
            for name in deleted:
                check(name not in got, "iteration %d: deleted %s came back" % (it, name))
            in_flight = None
            # Stream changes from a client while a timer kills the daemon.
            delay = rng.uniform(0.01, 0.15)
            killer = subprocess.Popen(["sh", "-c", "sleep %.3f; kill -9 %d" % (
                delay, ctl.proc.pid)])
            c = Rpc(ctl.socket)
            try:
                while True:
                    next_id += 1
                    name = "r%d" % (next_id % 200)
                    if rng.random() < 0.2 and name in acked:
                        in_flight = (name, None)
                        c.call("routes.del", name=name)
                        acked.pop(name)
                        deleted.add(name)
                    else:
                        port = 1000 + next_id % 60000
                        in_flight = (name, port)
                        c.call("routes.add", name=name, ipv4="198.18.200.9", port=port)
                        acked[name] = port
                        deleted.discard(name)
                    in_flight = None
            except (ConnectionError, OSError, Failure):
                pass  # killed mid-call: that change was never acknowledged
            finally:
                c.close()
                killer.wait()
                ctl.proc.wait(10)
        check(len(acked) > 20, "only %d changes acknowledged in %d runs" % (len(acked), iterations))

        ctl.start()  # settle the last in-flight call
        got = {r["name"]: r["port"] for r in ctl.call("routes.list")}
        if in_flight is not None:
            name, _ = in_flight
            if got.get(name) is None:
                acked.pop(name, None)
            else:
                acked[name] = got[name]
        ctl.kill()
        # A torn tail: half a record appended to the newest log.
        logs = sorted((f for f in os.listdir(ctl.state_dir) if f.startswith("log.")),
                      key=lambda f: int(f.split(".")[1]))
        with open(os.path.join(ctl.state_dir, logs[-1]), "ab") as f:
            f.write(b"\x40\x00\x00\x00\x12\x34")  # length 64, then a cut
        ctl.start()
        got = {r["name"]: r["port"] for r in ctl.call("routes.list")}
        check(all(got.get(n) == p for n, p in acked.items()), "state changed by the torn tail")
        wal = ctl.call("stats.get")["wal"]
        check(wal["torn_tails"] == 1, "torn tail not counted: %r" % wal)
        check("torn" in ctl.log_text().lower(), "no log line about the torn tail")
    finally:
        ctl._end()
        _remove(cfg.dir)
