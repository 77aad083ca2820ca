"""test_arp.py - the appliance as an Ethernet neighbour.

Hosts find the appliance by ARP like any router, and the appliance finds
its next hops by ARP unless a route fixes the MAC. An address that never
answers must not hold messages forever: they are dropped as no_neighbor
once the configured retries are spent.
"""
import time

from envelope import Envelope
from harness import Dataplane, Lab, Route, check, sh, wait_for
from test_forward import SVC_B_PORT, check_delivery, delta

# Fast retries keep the test short: 2 requests 250 ms apart, then give up.
ARP = {"retry_ms": 250, "retries": 2, "hold_packets": 4}
GHOST = "198.18.1.99"  # inside b's subnet, but nobody has it


def test_arp(build):
    """Hosts resolve the appliance by ARP and it resolves them; an absent
    host's messages are dropped after the retries."""
    with Lab("ab") as lab, Dataplane(lab, build, [Route("svc.b", lab.b.ip, SVC_B_PORT),
                                                  Route("svc.ghost", GHOST, SVC_B_PORT)],
                                     arp=ARP) as dp:
        lab.b.watch_arp()
        rx = lab.b.listen(SVC_B_PORT, sniff=True)
        mac_a, mac_b = dp.port_mac(0), dp.port_mac(1)
        check(lab.a.neigh(lab.a.gw)[0] is None, "host a knows the appliance before any traffic")

        # Host a resolves 198.18.0.1 itself; the appliance resolves 198.18.1.2.
        before = dp.counters()
        env = Envelope("svc.b", "svc.a", ttl=4, id=1, body=b"first")
        lab.a.send(dp.addr(lab.a), env.encode())
        check_delivery(dp, lab, [1, 0, "svc.b", "svc.a", 2, 4, 1, b"first"], env.forwarded(),
                       rx.recv(1, timeout=3), "first message to svc.b")
        mac, state = lab.a.neigh(lab.a.gw)
        check(mac == mac_a, "host a's neighbour table has %s at %s, expected the appliance "
              "port's MAC %s" % (lab.a.gw, mac, mac_a))
        check(state not in ("FAILED", "INCOMPLETE"),
              "host a's entry for %s is %s" % (lab.a.gw, state))
        mac, state = lab.b.neigh(lab.b.gw)
        check(mac == mac_b, "host b learned %s at %s from the appliance's request, expected %s" % (
            lab.b.gw, mac, mac_b))
        after = dp.counters()
        check(delta(before, after, "arp_requests") >= 1, "arp_requests did not rise")
        check(delta(before, after, "arp_replies") >= 1, "arp_replies did not rise")
        check(lab.b.arp_requests_for(lab.b.ip) >= 1, "host b saw no ARP request for %s" % lab.b.ip)

        # Nobody answers for the ghost: hold_packets messages wait, the
        # rest are refused at once, and all are dropped after the retries.
        sent = 6
        before = dp.counters()
        t0 = time.monotonic()
        lab.a.send(dp.addr(lab.a),
                   [Envelope("svc.ghost", "svc.a", id=i).encode() for i in range(sent)])
        over = sent - ARP["hold_packets"]
        c = dp.wait_counter("no_neighbor", before["no_neighbor"] + over, timeout=2)
        check(c["no_neighbor"] == before["no_neighbor"] + over,
              "%d messages for an unresolved next hop: no_neighbor %d right away, expected %d "
              "(the hold keeps %d)" % (sent, c["no_neighbor"] - before["no_neighbor"], over,
                                       ARP["hold_packets"]))
        dp.wait_counter("no_neighbor", before["no_neighbor"] + sent, timeout=3)
        waited = time.monotonic() - t0
        give_up = ARP["retries"] * ARP["retry_ms"] / 1000.0
        check(waited >= give_up * 0.9, "held messages dropped after %.3f s, before the %d retries "
              "of %d ms" % (waited, ARP["retries"], ARP["retry_ms"]))
        rx.expect_nothing(0.3)
        after = dp.counters()
        check(delta(before, after, "no_neighbor") == sent, "no_neighbor rose by %d for %d messages"
              % (delta(before, after, "no_neighbor"), sent))
        seen = wait_for(lambda: lab.b.arp_requests_for(GHOST) >= ARP["retries"] and
                        lab.b.arp_requests_for(GHOST), 2,
                        "host b to see %d ARP requests for %s" % (ARP["retries"], GHOST))
        check(seen == ARP["retries"], "host b saw %d ARP requests for %s, expected retries = %d" % (
            seen, GHOST, ARP["retries"]))

        # The failure is the ghost's alone.
        lab.a.send(dp.addr(lab.a), env.encode())
        check_delivery(dp, lab, [1, 0, "svc.b", "svc.a", 2, 4, 1, b"first"], env.forwarded(),
                       rx.recv(1, timeout=3), "svc.b after the ghost gave up")


def test_fixed_mac(build):
    """A route with a fixed MAC delivers without any ARP."""
    with Lab("ab") as lab:
        routes = [Route("svc.b", lab.b.ip, SVC_B_PORT, mac=lab.b.mac)]
        with Dataplane(lab, build, routes, arp=ARP) as dp:
            lab.b.watch_arp()
            rx = lab.b.listen(SVC_B_PORT, sniff=True)
            before = dp.counters()
            for i in range(3):
                env = Envelope("svc.b", "svc.a", ttl=6, id=i, body=b"fixed %d" % i)
                lab.a.send(dp.addr(lab.a), env.encode())
                check_delivery(dp, lab, [1, 0, "svc.b", "svc.a", 2, 6, i, b"fixed %d" % i],
                               env.forwarded(), rx.recv(1, timeout=3), "message %d" % i)
            after = dp.counters()
            for name in ("arp_requests", "held"):
                check(delta(before, after, name) == 0, "%s rose by %d for a route with a fixed MAC"
                      % (name, delta(before, after, name)))
            check(lab.b.arp_requests_for(lab.b.ip) == 0,
                  "host b was asked for %s by ARP" % lab.b.ip)


def test_gateway(build):
    """A service outside every port's subnet is reached through the port's gateway."""
    far = "198.19.7.7"  # host b's own address on its loopback, behind 198.18.1.2
    with Lab("ab") as lab:
        sh(["ip", "-n", lab.b.ns, "addr", "add", far + "/32", "dev", "lo"])
        routes = [Route("svc.far", far, SVC_B_PORT)]
        with Dataplane(lab, build, routes, arp=ARP, port_yaml={1: {"gateway": lab.b.ip}}) as dp:
            lab.b.watch_arp()
            rx = lab.b.listen(SVC_B_PORT, sniff=True, ip=far)
            env = Envelope("svc.far", "svc.a", ttl=3, id=42, body=b"via the gateway")
            lab.a.send(dp.addr(lab.a), env.encode())
            got = rx.recv(1, timeout=3)
            f = check_delivery(dp, lab, [1, 0, "svc.far", "svc.a", 2, 3, 42, b"via the gateway"],
                               env.forwarded(), got, "svc.far via gateway %s" % lab.b.ip)
            check(f.dst_ip == far, "the datagram went to %s, expected %s" % (f.dst_ip, far))
            check(lab.b.arp_requests_for(lab.b.ip) >= 1, "the gateway %s was never asked for by "
                  "ARP" % lab.b.ip)
            check(lab.b.arp_requests_for(far) == 0, "the appliance asked ARP for %s, which is "
                  "behind the gateway" % far)
