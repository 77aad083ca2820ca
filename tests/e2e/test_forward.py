"""test_forward.py - messages between kernel applications through the appliance.

Host a (198.18.0.2) and host b (198.18.1.2) are ordinary network namespaces;
the appliance sits between them on 198.18.0.1 and 198.18.1.1. Applications
send envelopes to 198.18.0.1:7400 and expect them on their service's own
socket in b, exactly as they would on a real network.
"""
import msgpack

from envelope import Envelope, Frame
from harness import Dataplane, Lab, Route, check

SVC_B_PORT = 7500
LONGEST_NAME = "svc." + "n" * 59  # 63 bytes, the most a name may have


def delta(before, after, name):
    return after[name] - before[name]


def unchanged_drops(before, after, allowed=()):
    """Drop reasons that moved although the test expected none."""
    return {k: after[k] - before[k] for k in after["drop_reasons"]
            if k not in allowed and after[k] != before[k]}


def check_delivery(dp, lab, sent, expected_payload, got, what, port_index=1, dst_host=None):
    """What the receiving application and its wire must show for one message.

    sent: the values put in the envelope (a list of 8); expected_payload: the
    exact bytes the receiver must get (the sent bytes, ttl one lower)."""
    dst_host = dst_host or lab.b
    check(len(got) == 1, "%s: %d datagrams arrived at %s:%d, expected 1" % (
        what, len(got), dst_host.ip, SVC_B_PORT))
    m = got[0]
    gw = dst_host.gw
    check(m["from"] == (gw, 7400), "%s: came from %s:%d, expected the appliance's port address "
          "%s:7400" % (what, m["from"][0], m["from"][1], gw))
    # The message as an application reads it.
    ver, kind, dst, src, prio, ttl, mid, body = msgpack.unpackb(m["payload"], raw=False)
    s_ver, s_kind, s_dst, s_src, s_prio, s_ttl, s_id, s_body = sent
    check((ver, kind, dst, src, prio) == (s_ver, s_kind, s_dst, s_src, s_prio),
          "%s: header changed: got ver/kind/dst/src/prio %r, sent %r" % (
              what, (ver, kind, dst, src, prio), (s_ver, s_kind, s_dst, s_src, s_prio)))
    check(ttl == s_ttl - 1, "%s: ttl %d arrived as %d, expected %d" % (what, s_ttl, ttl, s_ttl - 1))
    check(mid == s_id, "%s: id %d arrived as %d" % (what, s_id, mid))
    check(body == s_body, "%s: body of %d bytes arrived changed (%d bytes)" % (
        what, len(s_body), len(body)))
    # Byte for byte: only ttl's last byte may differ, whatever widths were used.
    check(m["payload"] == expected_payload, "%s: payload bytes differ from what was sent "
          "(ttl aside):\n  got      %s\n  expected %s" % (
              what, m["payload"][:80].hex(), expected_payload[:80].hex()))
    # The wire, as captured in b before the kernel judged it.
    check(m["frame"] is not None, "%s: no frame captured on %s" % (what, dst_host.iface))
    f = Frame(m["frame"])
    port_mac = dp.port_mac(port_index)
    check(f.src_mac == port_mac, "%s: Ethernet source %s, expected the appliance port's MAC %s"
          % (what, f.src_mac, port_mac))
    check(f.dst_mac == dst_host.mac, "%s: Ethernet destination %s, expected %s's MAC %s" % (
        what, f.dst_mac, dst_host.ns, dst_host.mac))
    check(f.checksums_ok(), "%s: IPv4 or UDP checksum invalid in the captured frame (ip %s, "
          "udp checksum 0x%04x)" % (what, f.ip_header.hex(), f.udp_cksum))
    return f


def forward_cases():
    """(what, envelope bytes, sent values, expected bytes) for many encodings."""
    cases = []
    # 1. What a Python application sends: msgpack picks the narrowest widths.
    v = [1, 0, "svc.b", "svc.a", 2, 5, 12345678901234, b"hello body"]
    cases.append(("msgpack library, narrowest widths", msgpack.packb(v, use_bin_type=True), v,
                  msgpack.packb(v[:5] + [4] + v[6:], use_bin_type=True)))

    def hand(what, env):
        vals = [env.ver, env.kind, env.dst, env.src, env.prio, env.ttl, env.id,
                env.body.decode() if env.widths["body"].startswith("str:") else env.body]
        cases.append((what, env.encode(), vals, env.forwarded()))

    hand("uint64 ver/kind/prio/ttl/id, str8 names, bin32 body",
         Envelope("svc.b", "svc.a", prio=3, ttl=64, id=2**64 - 1, body=b"\x00\xff" * 20,
                  widths=dict(ver="u64", kind="u64", prio="u64", ttl="u64", id="u64",
                              dst="s8", src="s8", body="b32")))
    hand("uint8/uint16/uint32 fields, str16 names, bin16 body",
         Envelope("svc.b", "sender-with-a-longer-name", prio=1, ttl=2, id=70000, body=b"x" * 300,
                  widths=dict(ver="u8", kind="u16", prio="u32", ttl="u16", id="u32",
                              dst="s16", src="s16", body="b16")))
    hand("str body (str8), empty src",
         Envelope("svc.b", "", prio=0, ttl=9, id=0, body=b"a text body, sent as str",
                  widths=dict(body="str:s8", id="fix")))
    hand("longest names: dst and src of 63 bytes",
         Envelope(LONGEST_NAME, "s" * 63, prio=1, ttl=3, id=63, body=b"long names",
                  widths=dict(dst="s8", src="s8")))
    for size in (0, 1, 100, 1400):
        hand("bin body of %d bytes" % size,
             Envelope("svc.b", "svc.a", prio=2, ttl=7, id=1000 + size,
                      body=bytes((i * 7 + size) & 0xFF for i in range(size)),
                      widths=dict(body="b16" if size > 255 else "b8")))
    return cases


def test_forward(build):
    """Messages of every encoding width and body size reach b intact, ttl one
    lower, from the appliance's address, with valid checksums."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT),
                                                  Route(LONGEST_NAME, lab.b.ip, SVC_B_PORT)]) as dp:
        rx = lab.b.listen(SVC_B_PORT, sniff=True)
        snmp_before = lab.b.snmp()
        before = dp.counters()
        cases = forward_cases()
        for what, payload, sent, expected in cases:
            lab.a.send(dp.addr(lab.a), payload)
            check_delivery(dp, lab, sent, expected, rx.recv(1, timeout=3), what)

        # A sender that does not checksum (UDP checksum 0, legal over IPv4):
        # the appliance must not invent a wrong one.
        env = Envelope("svc.b", "raw", prio=2, ttl=3, id=77, body=b"no checksum")
        lab.a.send_raw_udp(dp.addr(lab.a), env.encode(), sport=40001, checksum=0)
        check_delivery(dp, lab, [1, 0, "svc.b", "raw", 2, 3, 77, b"no checksum"],
                       env.forwarded(), rx.recv(1, timeout=3), "sender UDP checksum 0")

        after = dp.counters()
        n = len(cases) + 1
        check(delta(before, after, "rx_messages") == n, "rx_messages rose by %d, sent %d" % (
            delta(before, after, "rx_messages"), n))
        moved = unchanged_drops(before, after)
        check(not moved, "drops counted while forwarding valid messages: %r" % moved)
        snmp_after = lab.b.snmp()
        for key in ("InCsumErrors", "InErrors"):
            d = snmp_after["Udp"][key] - snmp_before["Udp"][key]
            check(d == 0, "the kernel in %s counted %d Udp %s" % (lab.b.ns, d, key))

        # Ctrl-C stops it cleanly, with a summary of what it did.
        rc = dp.stop()
        check(rc == 0, "yard-dataplane exited %d on SIGINT:\n%s" % (rc, dp.log_tail()))
        check("yard-dataplane: stopped: rx" in dp.log_text(), "no summary line on stopping:\n"
              + dp.log_tail())


def test_no_route(build):
    """An unknown destination is dropped as no_route and reaches nobody."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT)]) as dp:
        rx = lab.b.listen(SVC_B_PORT)
        before = dp.counters()
        sent = [Envelope("svc.nowhere", "svc.a", id=i).encode() for i in range(5)]
        lab.a.send(dp.addr(lab.a), sent)
        dp.wait_counter("no_route", before["no_route"] + 5)
        rx.expect_nothing(1.0)
        after = dp.counters()
        check(delta(before, after, "no_route") == 5, "no_route rose by %d for 5 messages" % (
            delta(before, after, "no_route")))
        d = delta(before, after, "routed")
        check(d == 0, "routed rose by %d" % d)
        moved = unchanged_drops(before, after, allowed=("no_route",))
        check(not moved, "other drop reasons moved: %r" % moved)


def bad_envelopes():
    good = Envelope("svc.b", "svc.a", prio=2, ttl=5, id=1, body=b"body")

    def fields(**over):
        e = Envelope("svc.b", "svc.a", prio=2, ttl=5, id=1, body=b"body")
        for k, v in over.items():
            setattr(e, k, v)
        return e.encode()

    body_parts = good.encode()[1:]  # the 8 fields without the array header
    return [
        ("truncated by one byte", good.encode()[:-1]),
        ("truncated inside the header", good.encode()[:5]),
        ("one trailing byte", good.encode() + b"\xc0"),
        ("array of 7", b"\x97" + body_parts[:-len(b"\xc4\x04body")]),
        ("array of 9", b"\x99" + body_parts + b"\xc0"),
        ("ver 2", fields(ver=2)),
        ("prio 4", fields(prio=4)),
        ("ttl 65", fields(ttl=65)),
        ("dst empty", fields(dst="")),
        ("dst with a NUL", fields(dst="svc\0b")),
        ("dst of 64 bytes", Envelope("s" * 64, widths=dict(dst="s8")).encode()),
        ("kind as a str", b"\x98\x01\xa10" + body_parts[2:]),
        ("a map, not an array", msgpack.packb({"dst": "svc.b"})),
        ("not msgpack at all", b"GET / HTTP/1.0\r\n\r\n"),
        ("empty datagram", b""),
    ]


def test_bad_envelope(build):
    """Each malformed envelope counts once as bad_envelope and reaches nobody."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT)]) as dp:
        rx_b = lab.b.listen(SVC_B_PORT)
        app_a = lab.a.listen(0)  # sends the bad envelopes, and would see any answer
        # One good message first, so that ARP is settled on both sides and
        # the appliance has no reason to transmit anything afterwards.
        app_a.send(dp.addr(lab.a), Envelope("svc.b", "svc.a").encode())
        check(len(rx_b.recv(1, timeout=3)) == 1, "a valid message did not arrive")
        start = dp.counters()
        cases = bad_envelopes()
        for i, (what, payload) in enumerate(cases):
            app_a.send(dp.addr(lab.a), payload)
            c = dp.wait_counter("bad_envelope", start["bad_envelope"] + i + 1)
            check(c["bad_envelope"] == start["bad_envelope"] + i + 1,
                  "%s: bad_envelope rose by %d" % (
                      what, c["bad_envelope"] - start["bad_envelope"] - i))
        rx_b.expect_nothing(1.0)
        app_a.expect_nothing(0.05)  # it has been listening all along
        end = dp.counters()
        check(delta(start, end, "bad_envelope") == len(cases), "bad_envelope rose by %d for %d "
              "malformed envelopes" % (delta(start, end, "bad_envelope"), len(cases)))
        for name in ("rx_messages", "routed", "tx_packets"):
            check(delta(start, end, name) == 0, "%s rose by %d" % (name, delta(start, end, name)))
        moved = unchanged_drops(start, end, allowed=("bad_envelope",))
        check(not moved, "other drop reasons moved: %r" % moved)


def test_ttl_expired(build):
    """ttl 1 and 0 are dropped as ttl_expired; ttl 2 still goes through."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT)]) as dp:
        rx = lab.b.listen(SVC_B_PORT, sniff=True)
        before = dp.counters()
        lab.a.send(dp.addr(lab.a),
                   [Envelope("svc.b", "svc.a", ttl=1, id=i).encode() for i in range(3)]
                   + [Envelope("svc.b", "svc.a", ttl=0, id=9).encode()])
        dp.wait_counter("ttl_expired", before["ttl_expired"] + 4)
        rx.expect_nothing(1.0)
        after = dp.counters()
        check(delta(before, after, "ttl_expired") == 4, "ttl_expired rose by %d for 4 messages "
              "with ttl 1 or 0" % delta(before, after, "ttl_expired"))
        # ttl 2 is the last that still goes through, and leaves with 1.
        env = Envelope("svc.b", "svc.a", ttl=2, id=10, body=b"last hop")
        lab.a.send(dp.addr(lab.a), env.encode())
        check_delivery(dp, lab, [1, 0, "svc.b", "svc.a", 2, 2, 10, b"last hop"], env.forwarded(),
                       rx.recv(1, timeout=3), "ttl 2")


def test_kinds(build):
    """Router-only kinds are dropped (ACK, NACK as bad_kind, FANOUT from a host that is
    not a cluster member as fanout_not_member); REGISTER is punted to the control plane."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT)]) as dp:
        rx = lab.b.listen(SVC_B_PORT)
        before = dp.counters()
        # ACK, NACK and FANOUT come from routers, never from applications.
        lab.a.send(dp.addr(lab.a),
                   [Envelope("svc.b", "svc.a", kind=k, id=k).encode() for k in (5, 6, 7)])
        dp.wait_counter("bad_kind", before["bad_kind"] + 2)
        dp.wait_counter("fanout_not_member", before["fanout_not_member"] + 1)
        # A REGISTER goes to the control plane, not to svc.b.
        lab.a.send(dp.addr(lab.a), Envelope("svc.b", "svc.a", kind=1, id=1).encode())
        dp.wait_counter("punted", before["punted"] + 1)
        rx.expect_nothing(1.0)
        after = dp.counters()
        check(delta(before, after, "bad_kind") == 2, "bad_kind rose by %d for kinds 5, 6" % (
            delta(before, after, "bad_kind")))
        check(delta(before, after, "fanout_not_member") == 1,
              "fanout_not_member rose by %d for a FANOUT from an application" % (
                  delta(before, after, "fanout_not_member")))
        check(delta(before, after, "punted") == 1, "punted rose by %d for one REGISTER" % (
            delta(before, after, "punted")))
        d = delta(before, after, "routed")
        check(d == 0, "routed rose by %d" % d)


def test_classes(build):
    """Each priority is counted in its own class, routed and transmitted."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT)]) as dp:
        rx = lab.b.listen(SVC_B_PORT)
        # First message resolves svc.b's next hop, so the rest go straight
        # through the class queues.
        lab.a.send(dp.addr(lab.a), Envelope("svc.b", "warm-up", id=0).encode())
        check(len(rx.recv(1, timeout=3)) == 1, "the warm-up message did not arrive")
        counts = {0: 5, 1: 10, 2: 20, 3: 40}
        # Mixed, as real traffic is: every 15 messages hold each class in
        # proportion, with the classes interleaved.
        order = [p for _ in range(5) for p in (3, 2, 3, 1, 3, 2, 3, 0, 3, 2, 3, 1, 3, 2, 3)]
        before = dp.counters()
        lab.a.send(dp.addr(lab.a), [Envelope("svc.b", "svc.a", prio=p, id=100 + i).encode()
                                    for i, p in enumerate(order)])
        got = rx.recv(len(order), timeout=3)
        check(len(got) == len(order), "%d of %d messages arrived" % (len(got), len(order)))
        prios = sorted(msgpack.unpackb(m["payload"])[4] for m in got)
        check(prios == sorted(order), "priorities received %r, sent %r" % (prios, sorted(order)))
        after = dp.wait_counter("tx_packets", before["tx_packets"] + len(order))
        for p, n in counts.items():
            for field in ("routed", "tx"):
                d = delta(before, after, "class_%d_%s" % (p, field))
                check(d == n, "class %d %s rose by %d, sent %d messages with prio %d" % (
                    p, field, d, n, p))
            d = delta(before, after, "class_%d_dropped" % p)
            check(d == 0, "class %d dropped %d" % (p, d))


def test_pipeline(build):
    """Forwarding works the same with separate worker and tx lcores."""
    # Lcore 2 runs on cpu 0 beside the main lcore: the machine has 2 cores,
    # and both the agent and an idle tx lcore sleep rather than spin.
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT),
                                                  Route(LONGEST_NAME, lab.b.ip, SVC_B_PORT)],
                                     mode="pipeline", workers=[1], tx_lcores=[2],
                                     eal=["--lcores", "0@0,1@1,2@0"]) as dp:
        s = dp.stats()
        check(s["dataplane"]["mode"] == "pipeline", "mode is %r" % s["dataplane"]["mode"])
        roles = {l["lcore"]: l["role"] for l in s["lcores"]}
        check(roles.get(1) == "worker" and roles.get(2) == "tx", "lcore roles %r" % roles)
        rx = lab.b.listen(SVC_B_PORT, sniff=True)
        before = dp.counters()
        cases = forward_cases()
        for what, payload, sent, expected in cases:
            lab.a.send(dp.addr(lab.a), payload)
            check_delivery(dp, lab, sent, expected, rx.recv(1, timeout=3), "pipeline: " + what)
        after = dp.counters()
        moved = unchanged_drops(before, after)
        check(not moved, "drops counted while forwarding valid messages: %r" % moved)
        tx_lcore = [l for l in dp.stats()["lcores"] if l["lcore"] == 2][0]
        check(tx_lcore["tx_packets"] > 0, "the tx lcore transmitted nothing")
