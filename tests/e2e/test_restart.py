"""test_restart.py - hitless restarts of either daemon under traffic.

Kernel UDP applications stream messages through the appliance to a
registered endpoint and to a route added through the API, while one daemon
is killed with SIGKILL and started again. Every message sent must arrive,
exactly once: the dataplane forwards with the tables it has while the
control plane is gone, and a restarted control plane re-syncs it without
removing anything that is still valid.
"""
import signal
import time

import msgpack

from control import KIND_REGISTER, Control, control_request
from envelope import Envelope
from harness import Dataplane, Lab, check, wait_for
from test_control import ack_ok

RATE = 1000  # messages per second per stream


def ids(msgs):
    return sorted(msgpack.unpackb(m["payload"])[6] for m in msgs)


def test_control_restart(build):
    """SIGKILL yard-control under traffic: forwarding goes on with zero loss;
    the restarted control plane replays its log, re-syncs the dataplane (a
    new generation) and the tables are unchanged."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        svc = b.listen(7500)
        ack_ok(control_request(svc, dp, b, KIND_REGISTER, "svc.reg", id=1), 1, "REGISTER")
        routed = b.listen(7501)
        ctl.wait_applied(ctl.call("routes.add", name="svc.api", ipv4=b.ip, port=7501)["seq"])
        gen_before = ctl.status()["dataplane"]["generation"]

        tmpl = Envelope("svc.reg", "src", id=0, body=b"stream")
        a.start_stream(dp.addr(a), tmpl.encode(), tmpl.id_offset(), RATE)
        try:
            time.sleep(0.5)
            ctl.kill(signal.SIGKILL)
            time.sleep(1.0)  # the dataplane alone
            check(dp.alive(), "the dataplane died with the control plane")
            ctl.start()
            st = ctl.wait_synced()
            check(st["dataplane"]["generation"] > gen_before,
                  "no full sync after the restart (generation %d -> %d)" % (
                      gen_before, st["dataplane"]["generation"]))
            time.sleep(0.5)
        finally:
            sent = a.stop_stream()
        got = ids(svc.recv(sent, timeout=3, quiet=1.0))
        check(got == list(range(1, sent + 1)), "sent %d, received %d (lost %d, duplicated %d)" % (
            sent, len(got), sent - len(set(got)), len(got) - len(set(got))))
        names = sorted(e["name"] for e in ctl.call("endpoints.list"))
        check(names == ["svc.api", "svc.reg"], "directory after restart: %r" % names)
        a.send(dp.addr(a), Envelope("svc.api", "x", id=5).encode())
        check(len(routed.recv(1, timeout=2)) == 1, "API route lost across the restart")
        text = ctl.log_text()
        check("replayed" in text, "no replay line in the log:\n" + text[-1000:])


def test_dataplane_restart(build):
    """SIGKILL the dataplane: yard-control notices (status, /health); the
    restarted dataplane gets a full sync and forwards to the registered
    endpoint again without the application registering anew."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        svc = b.listen(7500)
        ack_ok(control_request(svc, dp, b, KIND_REGISTER, "svc.reg", id=1, lease_ms=60000), 1,
               "REGISTER")
        gen_before = ctl.status()["dataplane"]["generation"]
        dp.proc.kill()
        dp.proc.wait()
        st = wait_for(lambda: (lambda s: s if s["dataplane"]["state"] == "down" else None)(
            ctl.status()), 3, "status.get to report the dataplane down")
        check(not st["synced"], "synced with the dataplane dead: %r" % st)
        check(ctl.http("/health")[0] == 503, "/health ready with the dataplane dead")

        dp.start()
        st = ctl.wait_synced()
        check(st["dataplane"]["generation"] > gen_before, "no full sync for the new dataplane")
        check(ctl.call("stats.get")["dataplane_link"]["dataplane_restarts"] >= 1,
              "restart not counted")
        a.send(dp.addr(a), [Envelope("svc.reg", "x", id=i).encode() for i in range(10)])
        check(len(svc.recv(10, timeout=3)) == 10, "registered endpoint unreachable after the "
              "dataplane restart")
        check(ctl.http("/health")[0] == 200, "/health not ready after the re-sync")
