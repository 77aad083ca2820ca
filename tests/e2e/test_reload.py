"""test_reload.py - changing routes on a running appliance with SIGHUP.

An operator edits the configuration file and sends SIGHUP while traffic
flows: the new routes take effect, the process keeps running (same pid),
and no message in flight is lost or delivered twice. A file that does not
check is refused and the running routes stay.
"""
import signal

import msgpack

from envelope import Envelope, Frame
from harness import Dataplane, Lab, Route, check, wait_for
from test_forward import delta

RATE = 200  # messages per second during the reload


def ids(messages):
    return [msgpack.unpackb(m["payload"])[6] for m in messages]


def test_reload(build):
    """SIGHUP under traffic: routes move, appear and go, nothing lost, same process."""
    with Lab("ab") as lab:
        b, a = lab.b, lab.a
        old = [Route("svc.b", b.ip, 7500), Route("svc.old", b.ip, 7502)]
        new = [Route("svc.b", b.ip, 7501), Route("svc.c", a.ip, 7600)]
        with Dataplane(lab, build, old) as dp:
            at_7500, at_7501, at_7502 = b.listen(7500), b.listen(7501), b.listen(7502)
            at_a = a.listen(7600)
            pid = dp.proc.pid
            check(dp.stats()["dataplane"]["pid"] == pid, "yardctl shows pid %r, started %d" % (
                dp.stats()["dataplane"]["pid"], pid))

            a.send(dp.addr(a), Envelope("svc.old", "svc.a", id=1).encode())
            check(len(at_7502.recv(1, timeout=3)) == 1, "svc.old did not work before the reload")

            tmpl = Envelope("svc.b", "svc.a", ttl=8, id=0, body=b"stream")
            a.start_stream(dp.addr(a), tmpl.encode(), tmpl.id_offset(), RATE)
            try:
                first = at_7500.recv(20, timeout=3)
                check(len(first) == 20, "only %d messages reached svc.b at 7500 before the reload"
                      % len(first))
                dp.reload(new)
                moved = at_7501.recv(20, timeout=3)
                check(len(moved) == 20, "only %d messages reached svc.b at its new port 7501 "
                      "after the reload" % len(moved))
            finally:
                sent = a.stop_stream()
            rest_old = at_7500.recv(10 ** 6, timeout=1.0, quiet=0.3)
            rest_new = at_7501.recv(10 ** 6, timeout=1.0, quiet=0.3)
            got_old, got_new = ids(first + rest_old), ids(moved + rest_new)
            check(dp.alive(), "yard-dataplane stopped during the reload:\n" + dp.log_tail())
            check(dp.stats()["dataplane"]["pid"] == pid, "the dataplane's pid changed")
            # Sent 1..sent, in order, by one worker: a clean cut between the
            # two destinations, nothing lost, nothing twice.
            check(sorted(got_old + got_new) == list(range(1, sent + 1)),
                  "sent ids 1..%d; 7500 got %d, 7501 got %d, missing %r, duplicated %r" % (
                      sent, len(got_old), len(got_new),
                      sorted(set(range(1, sent + 1)) - set(got_old + got_new))[:10],
                      sorted(i for i in set(got_old) & set(got_new))[:10]))
            check(max(got_old) < min(got_new), "messages to svc.b reached the old port after the "
                  "new one (last at 7500: %d, first at 7501: %d)" % (max(got_old), min(got_new)))
            check("2 routes installed, 1 removed" in dp.log_text(),
                  "the reload was not logged as 2 routes installed, 1 removed:\n" + dp.log_tail())

            # The added route works, from either side.
            b.send(dp.addr(b), Envelope("svc.c", "svc.b", id=5, body=b"to c").encode())
            got = at_a.recv(1, timeout=3)
            check(len(got) == 1 and msgpack.unpackb(got[0]["payload"])[7] == b"to c",
                  "svc.c (added by the reload) did not deliver: %r" % got)

            # The removed route is gone.
            before = dp.counters()
            a.send(dp.addr(a), [Envelope("svc.old", "svc.a", id=i).encode() for i in range(3)])
            dp.wait_counter("no_route", before["no_route"] + 3)
            at_7502.expect_nothing(0.5)
            after = dp.counters()
            check(delta(before, after, "no_route") == 3, "svc.old after its removal: no_route "
                  "rose by %d for 3 messages" % delta(before, after, "no_route"))

            # A broken file is refused and the running routes stay.
            with open(dp.config, "a") as f:
                f.write("  - name: svc.broken\n    ipv4: 198.18.1.300\n    udp_port: 7500\n")
            refused = dp.log_text().count("reload refused")
            dp.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: dp.log_text().count("reload refused") > refused, 5,
                     "the dataplane to refuse the broken file")
            check("198.18.1.300" in dp.log_text(), "the refusal does not name the bad address:\n"
                  + dp.log_tail())
            a.send(dp.addr(a), Envelope("svc.b", "svc.a", id=99).encode())
            got = at_7501.recv(1, timeout=3)
            check(len(got) == 1, "svc.b stopped working after a refused reload")
            check(dp.alive() and dp.stats()["dataplane"]["pid"] == pid,
                  "the dataplane did not survive the refused reload")


def test_reload_mac(build):
    """Taking a fixed MAC out of a route with SIGHUP makes the appliance resolve
    the next hop by ARP again."""
    with Lab("ab") as lab:
        b, a = lab.b, lab.a
        wrong = "02:00:5e:00:00:99"  # a MAC nobody has: an operator's typo
        with Dataplane(lab, build, [Route("svc.b", b.ip, 7500, mac=wrong)]) as dp:
            rx = b.listen(7500, sniff=True)
            a.send(dp.addr(a), Envelope("svc.b", "svc.a", id=1).encode())
            rx.expect_nothing(0.5)  # b's kernel ignores frames for another MAC
            dp.reload([Route("svc.b", b.ip, 7500)])
            before = dp.counters()
            a.send(dp.addr(a), Envelope("svc.b", "svc.a", id=2).encode())
            got = rx.recv(1, timeout=3)
            after = dp.counters()
            frame_mac = Frame(got[0]["frame"]).dst_mac if got and got[0]["frame"] else None
            check(len(got) == 1, "after the reload removed mac: %s from svc.b, nothing arrived "
                  "(arp_requests rose by %d; the appliance still sends to the old MAC)" % (
                      wrong, delta(before, after, "arp_requests")))
            check(frame_mac == b.mac, "frame sent to %s, expected b's MAC %s" % (frame_mac, b.mac))
