"""test_control.py - applications registering, subscribing and publishing at
run time through yard-control, as PROTOCOL.md §1 describes.

Every test runs the real pair: yard-dataplane on af_packet ports into
network namespaces, yard-control beside it, and kernel UDP applications in
the namespaces that send REGISTER/SUBSCRIBE and read the ACK/NACK the
appliance sends back to their own socket.
"""
import time

import msgpack

from control import (KIND_ACK, KIND_NACK, KIND_REGISTER, KIND_SUBSCRIBE, KIND_UNREGISTER,
                     KIND_UNSUBSCRIBE, Control, control_request)
from envelope import Envelope
from harness import Dataplane, Lab, check, wait_for


def ack_ok(reply, req_id, what):
    check(reply is not None, "%s: no reply came back" % what)
    check(reply["kind"] == KIND_ACK, "%s: expected ACK, got %r" % (what, reply))
    check(reply["id"] == req_id, "%s: ACK id %r, request id %d" % (what, reply["id"], req_id))
    return reply


def payloads(msgs):
    return [m["payload"] for m in msgs]


def test_register(build):
    """REGISTER gets an ACK (id echoed, lease_ms, node); messages reach the
    application; UNREGISTER removes it; bad requests get a NACK with a reason."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        svc = b.listen(7500)
        r = ack_ok(control_request(svc, dp, b, KIND_REGISTER, "svc.b", id=41), 41, "REGISTER")
        check(r["ack"].get("lease_ms") == 30000, "default lease is 30000 ms, ACK says %r" % r["ack"])
        check(r["ack"].get("node") == "node-" + dp.instance, "ACK node %r" % r["ack"].get("node"))
        check(r["dst"] == "svc.b", "ACK addressed to %r, not the registering endpoint" % r["dst"])

        eps = ctl.call("endpoints.list")
        check([e["name"] for e in eps] == ["svc.b"], "endpoints.list: %r" % eps)
        loc = eps[0]["locations"][0]
        check((loc["ipv4"], loc["port"], loc["origin"]) == (b.ip, 7500, "registered"),
              "location %r" % loc)
        check(0 < loc["lease_ms_left"] <= 30000, "lease left %r" % loc["lease_ms_left"])

        # The ACK means live: a message sent right after it is delivered.
        msgs = [Envelope("svc.b", "svc.a", id=i, body=b"hello %d" % i) for i in range(20)]
        a.send(dp.addr(a), [m.encode() for m in msgs])
        got = svc.recv(20, timeout=3)
        check(sorted(payloads(got)) == sorted(m.forwarded() for m in msgs),
              "svc.b received %d of 20 messages" % len(got))

        # A renewal from the same address: ACK, still one location.
        ack_ok(control_request(svc, dp, b, KIND_REGISTER, "svc.b", id=42, lease_ms=60000), 42,
               "renewal")
        eps = ctl.call("endpoints.list")
        check(len(eps[0]["locations"]) == 1, "a renewal added a location: %r" % eps)
        check(eps[0]["locations"][0]["lease_ms_left"] > 30000, "renewal did not extend the lease")

        # NACKs: each with a reason, nothing changed.
        other = b.listen(7501)
        r = control_request(other, dp, b, KIND_UNREGISTER, "svc.b", id=43)
        check(r is not None and r["kind"] == KIND_NACK and r["id"] == 43 and "not registered"
              in r["reason"], "UNREGISTER from another address: %r" % r)
        r = control_request(other, dp, b, KIND_SUBSCRIBE, "sub.x", topic="svc.b", id=44)
        check(r is not None and r["kind"] == KIND_NACK and "endpoint" in r["reason"],
              "SUBSCRIBE to an endpoint's name: %r" % r)
        other.send(dp.addr(b), Envelope("svc.c", "svc.c", kind=KIND_REGISTER, id=45,
                                        body=b"\xc1").encode())
        r = other.recv(1, timeout=3)
        check(r and msgpack.unpackb(r[0]["payload"])[1] == KIND_NACK,
              "REGISTER with a body that is not msgpack was not NACKed: %r" % r)

        ack_ok(control_request(svc, dp, b, KIND_UNREGISTER, "svc.b", id=46), 46, "UNREGISTER")
        check(ctl.call("endpoints.list") == [], "svc.b still listed after UNREGISTER")
        before = dp.counters()["no_route"]
        a.send(dp.addr(a), Envelope("svc.b", "svc.a", id=99).encode())
        dp.wait_counter("no_route", before + 1)
        svc.expect_nothing(0.5)
        st = ctl.call("stats.get")["control"]
        check(st["registrations"] == 1 and st["unregistrations"] == 1 and st["nacks"] >= 3,
              "control counters: %r" % st)


def test_lease_expiry(build):
    """A registration that is not renewed disappears from the dataplane when
    its lease passes; one that is renewed stays."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        short, kept = b.listen(7500), b.listen(7501)
        ack_ok(control_request(short, dp, b, KIND_REGISTER, "lapse", id=1, lease_ms=1000), 1,
               "REGISTER lapse")
        r = ack_ok(control_request(kept, dp, b, KIND_REGISTER, "kept", id=2, lease_ms=1000), 2,
                   "REGISTER kept")
        check(r["ack"]["lease_ms"] == 1000, "asked for 1000 ms, granted %r" % r["ack"])
        t0 = time.monotonic()
        renewals = 0
        while time.monotonic() - t0 < 2.5:
            time.sleep(0.4)
            ack_ok(control_request(kept, dp, b, KIND_REGISTER, "kept", id=10 + renewals,
                                   lease_ms=1000), 10 + renewals, "renewal")
            renewals += 1
        names = [e["name"] for e in ctl.call("endpoints.list")]
        check(names == ["kept"], "after 2.5 s: %r (lapse should be gone, kept renewed)" % names)
        check(ctl.call("stats.get")["control"]["leases_expired"] == 1, "leases_expired not 1")
        before = dp.counters()["no_route"]
        a.send(dp.addr(a), Envelope("lapse", "x", id=5).encode())
        a.send(dp.addr(a), Envelope("kept", "x", id=6).encode())
        check(len(kept.recv(1, timeout=2)) == 1, "the renewed endpoint stopped receiving")
        dp.wait_counter("no_route", before + 1)
        short.expect_nothing(0.3)


def test_groups(build):
    """Several locations under one name form a group: each message goes to
    exactly one member, the same (src, id) always to the same one, and every
    member gets a share."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        members = [b.listen(7500 + i) for i in range(3)]
        for i, m in enumerate(members):
            ack_ok(control_request(m, dp, b, KIND_REGISTER, "workers", id=i + 1), i + 1, "join")
        eps = ctl.call("endpoints.list")
        check(eps[0]["kind"] == "group" and len(eps[0]["locations"]) == 3, "not a group: %r" % eps)

        n = 300
        msgs = [Envelope("workers", "client", id=i, body=b"job") for i in range(n)]
        a.send(dp.addr(a), [m.encode() for m in msgs])
        got = [payloads(m.recv(n, timeout=2, quiet=0.5)) for m in members]
        total = sum(len(g) for g in got)
        check(total == n, "%d of %d messages delivered (%s per member)" % (
            total, n, [len(g) for g in got]))
        check(all(len(g) >= n // 10 for g in got), "uneven spread: %s" % [len(g) for g in got])
        seen = set()
        for g in got:
            for p in g:
                check(p not in seen, "a message was delivered twice")
                seen.add(p)
        # Stability: the same (src, id) goes to the same member again.
        owner = {p: i for i, g in enumerate(got) for p in g}
        again = msgs[:30]
        a.send(dp.addr(a), [m.encode() for m in again])
        got2 = [payloads(m.recv(30, timeout=2, quiet=0.5)) for m in members]
        for i, g in enumerate(got2):
            for p in g:
                check(owner[p] == i, "id %d moved from member %d to %d" % (
                    msgpack.unpackb(p)[6], owner[p], i))
        check(sum(len(g) for g in got2) == 30, "repeat: %d of 30 delivered" % sum(
            len(g) for g in got2))


def test_topics(build):
    """A topic delivers one copy per subscriber, the body intact in each;
    UNSUBSCRIBE stops the copies for that subscriber only."""
    with Lab("ab") as lab, Dataplane(lab, build, []) as dp, Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        subs = [(b, b.listen(7600)), (b, b.listen(7601)), (a, a.listen(7602))]
        for i, (h, s) in enumerate(subs):
            ack_ok(control_request(s, dp, h, KIND_SUBSCRIBE, "sub%d" % i, topic="news", id=i + 1),
                   i + 1, "SUBSCRIBE sub%d" % i)
        topics = ctl.call("topics.list")
        check(len(topics) == 1 and topics[0]["name"] == "news" and sorted(
            s["name"] for s in topics[0]["subscribers"]) == ["sub0", "sub1", "sub2"],
            "topics.list: %r" % topics)

        n = 50
        body = bytes(range(256)) * 4  # 1 KiB: copies must share it intact
        msgs = [Envelope("news", "pub", id=i, body=body, widths={"body": "b16"}) for i in range(n)]
        before = dp.counters()
        a.send(dp.addr(a), [m.encode() for m in msgs])
        want = sorted(m.forwarded() for m in msgs)
        for i, (h, s) in enumerate(subs):
            got = sorted(payloads(s.recv(n, timeout=3, quiet=0.5)))
            check(got == want, "subscriber %d got %d of %d copies (or altered ones)" % (
                i, len(got), n))
        after = dp.counters()
        check(after["fanout_copies"] - before["fanout_copies"] == 3 * n,
              "fanout_copies grew by %d, expected %d" % (
                  after["fanout_copies"] - before["fanout_copies"], 3 * n))

        h, s = subs[1]
        ack_ok(control_request(s, dp, h, KIND_UNSUBSCRIBE, "sub1", topic="news", id=9), 9,
               "UNSUBSCRIBE")
        a.send(dp.addr(a), Envelope("news", "pub", id=1000, body=b"after").encode())
        check(len(subs[0][1].recv(1, timeout=2)) == 1, "sub0 lost its copy")
        check(len(subs[2][1].recv(1, timeout=2)) == 1, "sub2 lost its copy")
        s.expect_nothing(0.3)


def test_punt_flood(build):
    """A source flooding REGISTERs is limited in the dataplane (counted as
    punt_rate_limited); another application still registers, traffic still
    flows and the API still answers."""
    extra = {"punt_rate_per_source": 200, "punt_burst": 50}
    with Lab("ab") as lab, Dataplane(lab, build, [], extra_yaml=extra) as dp, \
            Control(dp, build) as ctl:
        a, b = lab.a, lab.b
        ctl.wait_synced()
        svc = b.listen(7500)
        ack_ok(control_request(svc, dp, b, KIND_REGISTER, "svc.b", id=1), 1, "REGISTER")
        flood = Envelope("flood", "flood", kind=KIND_REGISTER, id=0)
        a.start_stream(dp.addr(a), flood.encode(), flood.id_offset(), 5000)
        try:
            time.sleep(1.0)
            t0 = time.monotonic()
            fresh = b.listen(7501)
            ack_ok(control_request(fresh, dp, b, KIND_REGISTER, "fresh", id=2), 2,
                   "REGISTER during the flood")
            check(time.monotonic() - t0 < 2, "registration took %.1f s during the flood" % (
                time.monotonic() - t0))
            a.send(dp.addr(a), [Envelope("svc.b", "x", id=i).encode() for i in range(10)])
            check(len(svc.recv(10, timeout=2)) == 10, "traffic stopped during the flood")
            check(ctl.status()["instance"] == dp.instance, "API did not answer")
        finally:
            sent = a.stop_stream()
        c = wait_for(lambda: (lambda c: c if c["punt_rate_limited"] > 0 else None)(
            dp.counters()), 3, "punt_rate_limited to count the flood")
        punted = c["punted"]
        check(punted < sent / 2, "%d of %d flood messages reached the control plane" % (
            punted, sent))
