"""test_cluster.py - three appliances in one cluster, as an operator runs them.

Each appliance is a yard-dataplane with two ports: port 0 to a host of its
own (kernel UDP applications), port 1 on the fabric, a Linux bridge all
three share; the fabric address is the node's data address, where the
other nodes send the messages for names it hosts. Its yard-control gossips
from a namespace of its own on a second bridge, the management LAN:

    fabric ns   br0 ── pfab of a (198.19.0.1)  b (198.19.0.2)  c (198.19.0.3)
    appliance   a: port 0 ── host 198.18.10.2   b: 198.18.20.2   c: 198.18.30.2
    management  br0 ── eth0 of yard-a (198.18.100.1:7946), yard-b (.2), yard-c (.3)

Gossip runs on a LAN of its own rather than on one shared loopback because
that is how appliances are deployed (every node on the same port 7946 at
an address of its own, the addresses the log lines and members.list show),
and because a node can only be cut off by address: memberlist's TCP streams
leave from an ephemeral port, so on one loopback no rule could tell whose
stream it is (test_partition.py relies on that).

The cluster uses memberlist's LAN profile unchanged, so the failure
detection measured here is what an operator gets by default.
"""
import contextlib
import math
import re
import signal
import time

import msgpack

from control import KIND_REGISTER, KIND_SUBSCRIBE, Control, control_request
from envelope import Envelope
from harness import Bridge, Dataplane, Failure, Lab, Netns, check, wait_for
from test_control import ack_ok

GOSSIP_PORT = 7946
KIND_FANOUT = 7
LEASE_MS = 300000  # the longest lease allowed: the registrations outlive the test
RATE = 500  # messages per second of the stream that must survive a node's death
MAX_GAP_S = 0.5


# ---- helpers shared with test_cluster_serf.py and test_partition.py ----


def cluster_yaml(bind, join=(), profile="lan", data=None, keys=(), **timing):
    """The cluster: section as a YAML flow mapping (a Dataplane's or a
    ConfigOnly's extra_yaml value)."""
    parts = ["bind: %s" % bind, "profile: %s" % profile]
    if join:
        parts.append("join: [%s]" % ", ".join(join))
    if data:
        parts.append("data_address: %s" % data)
    if keys:
        parts.append("keys: [%s]" % ", ".join('"%s"' % k for k in keys))
    parts += ["%s: %s" % (k, v) for k, v in timing.items()]
    return "{%s}" % ", ".join(parts)


def suspicion_timeout_s(n, suspicion_mult=4, probe_interval_ms=1000, max_mult=6):
    """How long a member stays suspect before it is declared dead, with no
    confirmation from other members (memberlist.md section 7): the minimum
    when n is too small for confirmations to be expected, else the maximum."""
    t_min = suspicion_mult * max(1.0, math.log10(max(1, n))) * probe_interval_ms / 1000.0
    k = suspicion_mult - 2
    if n - 2 < k:
        k = 0
    return t_min if k < 1 else t_min * max_mult


def failure_detection_s(n, suspicion_mult=4, probe_interval_ms=1000, slack_s=1.0):
    """Longest time from a member's death to its failed/dead verdict on the
    others, with every probe interval unscaled (the others answer, so
    Lifeguard does not slow anyone down). memberlist probes one member per
    interval in a shuffled order that is reshuffled when it wraps, and a
    tick that lands on its own slot at the wrap is spent on the reshuffle
    (probe()'s numCheck), so two probes of one member can be 2(n - 1)
    intervals apart: dying just after a probe, the member is probed again
    at most that much later, that probe fails one interval after it starts,
    and then the suspicion timeout runs (memberlist.md sections 6.1, 7, 11;
    section 11's "(n - 1) x 1 s" is the usual round, not the worst).
    Slack covers the verdict's gossip to the others and the polling."""
    probe = probe_interval_ms / 1000.0
    return ((2 * (n - 1) + 1) * probe + suspicion_timeout_s(n, suspicion_mult, probe_interval_ms)
            + slack_s)


def states(ctl):
    """{member name: state} as ctl's members.list says."""
    return {name: m["state"] for name, m in ctl.members().items()}


def wait_states(ctl, want, timeout, what=None):
    """Poll ctl's members.list until every member in want ({name: state})
    has that state; returns the seconds it took."""
    t0 = time.monotonic()
    last = {}

    def reached():
        last.clear()
        last.update(states(ctl))
        return all(last.get(n) == s for n, s in want.items())
    try:
        wait_for(reached, timeout, what or "members %r on %s" % (want, ctl.node), interval=0.05)
    except Failure:
        raise Failure("%s: members.list of %s is %r after %.1f s" % (
            what or "members %r" % want, ctl.node, last, timeout))
    return time.monotonic() - t0


def view(ctl):
    """The parts of members.list every member must agree on: {name: (state,
    incarnation)}."""
    return {name: (m["state"], m["incarnation"]) for name, m in ctl.members().items()}


def yardctl_members(ctl):
    """`yardctl members list` as rows {column: text} (the own row's name
    carries " (self)", which is split off into self=True)."""
    out = ctl.yardctl("members", "list").stdout.splitlines()
    check(out and out[0].split() == ["NAME", "ADDRESS", "STATE", "INCARNATION", "ROLE", "DATA",
                                     "NAMES"], "yardctl members list header: %r" % out[:1])
    rows = {}
    for line in out[1:]:
        f = line.split()
        if not f:
            continue
        me = len(f) > 1 and f[1] == "(self)"
        if me:
            del f[1]
        check(len(f) == 7, "yardctl members list row: %r" % line)
        rows[f[0]] = dict(zip(("name", "address", "state", "incarnation", "role", "data",
                               "names"), f), self=me)
    return rows


def counter_lines(ctl, pattern):
    """The /metrics series whose names match the regular expression."""
    rx = re.compile(pattern)
    return {k: v for k, v in ctl.metrics().items() if rx.search(k)}


# ---- the three appliances ----


class Node:
    """One appliance: its lab (host + fabric port), dataplane and yard-control."""

    def __init__(self, letter, index, fabric, mgmt, build, names):
        self.letter, self.name = letter, "yard-" + letter
        self.data_ip = "198.19.0.%d" % index
        self.data = "%s:7400" % self.data_ip
        self.gossip = "198.18.100.%d:%d" % (index, GOSSIP_PORT)
        self.lab = Lab(letter, first_subnet=10 * index, fabric=fabric,
                       fabric_ip=self.data_ip + "/24")
        self.host = getattr(self.lab, letter)
        self.gossip_ns = Netns("g" + letter)
        self.mgmt, self.index = mgmt, index
        seeds = ["198.18.100.%d:%d" % (i, GOSSIP_PORT) for i in range(1, 4) if i != index]
        # Three appliances on one machine: half the usual hugepage memory
        # each is plenty for a few thousand messages.
        self.dp = Dataplane(self.lab, build, [], memory_mb=128, extra_yaml={
            "cluster": cluster_yaml(self.gossip, join=seeds, profile="lan", data=self.data)})
        self.ctl = Control(self.dp, build, netns=self.gossip_ns.ns, node=self.name)
        names.append(self.name)

    def enter(self, stack):
        stack.enter_context(self.lab)
        stack.enter_context(self.gossip_ns)
        self.mgmt.attach(self.gossip_ns.ns, "eth0", "g%d" % self.index,
                         ip="198.18.100.%d/24" % self.index)
        stack.enter_context(self.dp)
        stack.enter_context(self.ctl)

    def send(self, envs):
        """Send envelopes from this node's host through this node."""
        envs = [envs] if isinstance(envs, Envelope) else envs
        self.host.send(self.dp.addr(self.host), [e.encode() for e in envs])

    def listen(self, port):
        return self.host.listen(port)

    def request(self, sock, kind, name, topic=None, id=1, lease_ms=LEASE_MS):
        return control_request(sock, self.dp, self.host, kind, name, topic=topic, id=id,
                               lease_ms=lease_ms)


def locations_of(ctl, name, kind="endpoints"):
    """Locations (endpoints) or subscribers (topics) of name on ctl."""
    for e in ctl.call(kind + ".list"):
        if e["name"] == name:
            return e["locations" if kind == "endpoints" else "subscribers"]
    return []


def names_of_node(ctl, node):
    """Every (kind, name) ctl's directory has on member node."""
    out = []
    for kind, field in (("endpoints", "locations"), ("topics", "subscribers")):
        for e in ctl.call(kind + ".list"):
            out += [(kind, e["name"]) for loc in e[field] if loc["node"] == node]
    return out


def ids(msgs):
    return sorted(msgpack.unpackb(m["payload"])[6] for m in msgs)


def longest_gap(received, sent):
    """The longest run of ids in 1..sent that never arrived."""
    have, run, best = set(received), 0, 0
    for i in range(1, sent + 1):
        run = 0 if i in have else run + 1
        best = max(best, run)
    return best


def test_cluster(build):
    """Three appliances form a cluster: a name registered on one is
    reachable through the others, a topic delivers one copy per subscriber
    across nodes, a node's death is detected within memberlist's failure
    detection time without disturbing traffic between the others, and the
    restarted node rejoins with its names; FANOUT from a non-member is
    dropped and counted."""
    t_start = time.monotonic()
    with contextlib.ExitStack() as stack:
        fabric = stack.enter_context(Bridge("fab"))
        mgmt = stack.enter_context(Bridge("mgmt"))
        names = []
        a, b, c = nodes = [Node(x, i + 1, fabric, mgmt, build, names)
                           for i, x in enumerate("abc")]
        for n in nodes:
            n.enter(stack)
        t0 = time.monotonic()  # the last yard-control has just started
        for n in nodes:
            n.ctl.wait_synced()

        # ---- the cluster forms ----
        for n in nodes:
            wait_states(n.ctl, {x: "alive" for x in names}, 10, "the cluster to form")
        t_form = time.monotonic() - t0
        for n in nodes:
            ms = n.ctl.members()
            check(sorted(ms) == sorted(names), "%s lists %r" % (n.name, sorted(ms)))
            for o in nodes:
                m = ms[o.name]
                check((m["address"], m["role"], m["data"], m["self"]) ==
                      (o.gossip, "switchyard", o.data, o is n),
                      "%s's entry for %s: %r" % (n.name, o.name, m))
            st = n.ctl.status()["cluster"]
            check((st["node"], st["alive"], st["suspect"], st["dead"], st["joined"]) ==
                  (n.name, 3, 0, 0, True), "status.get cluster of %s: %r" % (n.name, st))
        rows = yardctl_members(a.ctl)
        check(sorted(rows) == sorted(names) and rows["yard-a"]["self"] and all(
            (r["state"], r["role"], r["address"], r["data"]) ==
            ("alive", "switchyard", o.gossip, o.data) for o in nodes for r in [rows[o.name]]),
            "yardctl members list on yard-a: %r" % rows)
        m = a.ctl.metrics()
        check(m.get('yard_cluster_members{state="alive"}') == 3,
              "yard_cluster_members{state=\"alive\"} on yard-a: %r" % m.get(
                  'yard_cluster_members{state="alive"}'))

        # ---- a name registered on A, reached through C ----
        svc_a = a.listen(7500)
        r = ack_ok(a.request(svc_a, KIND_REGISTER, "svc-a", id=1), 1, "REGISTER svc-a on yard-a")
        check(r["ack"].get("node") == "yard-a", "ACK names node %r" % r["ack"].get("node"))

        def remote_on_c():
            locs = locations_of(c.ctl, "svc-a")
            return locs if locs else None
        locs = wait_for(remote_on_c, 5, "svc-a to appear in yard-c's directory")
        check(len(locs) == 1 and (locs[0]["origin"], locs[0]["node"], locs[0]["ipv4"],
                                  locs[0]["port"]) == ("remote", "yard-a", a.data_ip, 7400),
              "yard-c's location of svc-a: %r" % locs)
        msg = Envelope("svc-a", "client-c", id=11, ttl=8, body=b"via c")
        c.send(msg)
        got = svc_a.recv(1, timeout=3)
        check(got, "MSG to svc-a sent through yard-c never reached the application on yard-a")
        check(got[0]["payload"] == msg.encode(ttl=6),
              "svc-a received %r, expected the envelope with ttl 8 - 2" % got[0]["payload"])
        check(got[0]["from"] == (a.host.gw, 7400), "delivered from %r, not yard-a's port" % (
            got[0]["from"],))

        # ---- a topic with a subscriber on each node ----
        subs = []
        for i, n in enumerate(nodes):
            s = n.listen(7600)
            ack_ok(n.request(s, KIND_SUBSCRIBE, "sub-" + n.letter, topic="news", id=20 + i),
                   20 + i, "SUBSCRIBE sub-%s on %s" % (n.letter, n.name))
            subs.append(s)

        def topic_complete(n):
            def done():
                got = locations_of(n.ctl, "news", "topics")
                want = {"sub-" + n.letter} | {o.name for o in nodes if o is not n}
                return got if {s["name"] for s in got} == want and len(got) == 3 else None
            return done
        for n in nodes:
            subs_n = wait_for(topic_complete(n), 5, "%s to list the three nodes' subscribers of "
                              "news" % n.name)
            for s in subs_n:
                o = next((o for o in nodes if o.name == s["name"]), None)
                if o is not None:
                    check((s["node"], s["ipv4"], s["port"]) == (o.name, o.data_ip, 7400),
                          "%s: remote subscriber entry %r" % (n.name, s))
        rows = yardctl_members(c.ctl)
        hosted = {x: rows[x]["names"] for x in names}
        check(hosted == {"yard-a": "2", "yard-b": "1", "yard-c": "1"},
              "yardctl members list on yard-c: NAMES %r, expected yard-a 2 (svc-a, news), "
              "yard-b 1 and yard-c 1 (news)" % hosted)
        before = a.dp.counters()["fanout_copies"]
        news = Envelope("news", "publisher", id=42, ttl=8, body=b"extra! extra!")
        a.send(news)
        for n, s in zip(nodes, subs):
            want = news.encode(ttl=7) if n is a else news.encode(ttl=6)
            # One copy, then nothing more for a second.
            got = s.recv(2, timeout=3, quiet=1.0)
            check(len(got) == 1, "sub-%s got %d copies of one publish" % (n.letter, len(got)))
            check(got[0]["payload"] == want, "sub-%s got %r, expected kind MSG with ttl %d" % (
                n.letter, got[0]["payload"], 7 if n is a else 6))
        copies = a.dp.counters()["fanout_copies"] - before
        check(copies == 3, "yard-a made %d copies (1 local + 1 FANOUT per other node = 3)" % copies)

        # ---- names on B and C for the failure part ----
        svc_b, svc_c = b.listen(7700), c.listen(7700)
        ack_ok(b.request(svc_b, KIND_REGISTER, "svc-b", id=30), 30, "REGISTER svc-b on yard-b")
        ack_ok(c.request(svc_c, KIND_REGISTER, "svc-c", id=31), 31, "REGISTER svc-c on yard-c")
        for n in (a, c):
            wait_for(lambda: locations_of(n.ctl, "svc-b"), 5,
                     "svc-b to appear in %s's directory" % n.name)
        wait_for(lambda: locations_of(a.ctl, "svc-c"), 5, "svc-c in yard-a's directory")
        a.send(Envelope("svc-c", "warm", id=1))  # resolve the fabric neighbour first
        check(len(svc_c.recv(1, timeout=3)) == 1, "svc-c unreachable from yard-a")
        b_names = [("endpoints", "svc-b"), ("topics", "news")]
        for n in (a, c):
            check(sorted(names_of_node(n.ctl, "yard-b")) == b_names,
                  "%s's directory on yard-b before the kill: %r" % (
                      n.name, names_of_node(n.ctl, "yard-b")))

        # ---- B dies under traffic between A and C ----
        tmpl = Envelope("svc-c", "stream", id=0, body=b"steady")
        a.host.start_stream(a.dp.addr(a.host), tmpl.encode(), tmpl.id_offset(), RATE)
        try:
            time.sleep(0.5)
            t_kill = time.monotonic()
            b.dp.proc.kill()
            b.ctl.kill(signal.SIGKILL)
            b.dp.proc.wait()
            bound = failure_detection_s(3)
            detected = {}
            for n in (a, c):
                wait_states(n.ctl, {"yard-b": "dead"}, bound - (time.monotonic() - t_kill),
                            "yard-b to be declared dead on %s within %.1f s" % (n.name, bound))
                detected[n.name] = time.monotonic() - t_kill
            for n in (a, c):
                left = names_of_node(n.ctl, "yard-b")
                check(not left, "%s still routes to yard-b: %r" % (n.name, left))
                check(re.search(r"cluster: member yard-b failed 198\.18\.100\.2:%d" % GOSSIP_PORT,
                                n.ctl.log_text()),
                      "no 'cluster: member yard-b failed' line in %s's log:\n%s" % (
                          n.name, n.ctl.log_tail()))
                for o in (a, c):
                    check(n.ctl.members()[o.name]["state"] == "alive",
                          "%s sees %s as %s" % (n.name, o.name, n.ctl.members()[o.name]["state"]))
            # The dataplane has let go of yard-b too: a publish now makes no
            # FANOUT copy for it.
            before = a.dp.counters()["fanout_copies"]
            news2 = Envelope("news", "publisher", id=43, ttl=8, body=b"b is gone")
            a.send(news2)
            for n, s, ttl in ((a, subs[0], 7), (c, subs[2], 6)):
                got = s.recv(2, timeout=3, quiet=0.5)
                check([g["payload"] for g in got] == [news2.encode(ttl=ttl)],
                      "sub-%s got %d copies of a publish after yard-b died" % (n.letter, len(got)))
            copies = a.dp.counters()["fanout_copies"] - before
            check(copies == 2, "yard-a made %d copies with yard-b dead (1 local + 1 for yard-c = "
                  "2)" % copies)
        finally:
            sent = a.host.stop_stream()
        streamed = ids(svc_c.recv(sent, timeout=3, quiet=1.0))
        gap = longest_gap(streamed, sent)
        check(gap <= MAX_GAP_S * RATE, "the stream yard-a -> yard-c stopped for %.2f s while "
              "yard-b died (%d of %d lost)" % (gap / RATE, sent - len(set(streamed)), sent))
        m = a.ctl.metrics()
        check(m.get('yard_cluster_members{state="dead"}') == 1,
              "yard_cluster_members{state=\"dead\"} on yard-a: %r" % m.get(
                  'yard_cluster_members{state="dead"}'))

        # ---- B comes back with its state ----
        t_restart = time.monotonic()
        b.dp.start()
        b.ctl.start()
        b.ctl.wait_synced()
        for n in nodes:
            wait_states(n.ctl, {x: "alive" for x in names}, 10, "yard-b to rejoin")
        t_rejoin = time.monotonic() - t_restart
        # yard-b refuted its death with a newer incarnation, which all agree on.
        wait_for(lambda: view(a.ctl) == view(b.ctl) == view(c.ctl), 5,
                 "the three member lists to agree after yard-b rejoined")
        check(view(a.ctl)["yard-b"][1] > 1, "yard-b rejoined with incarnation %d: it did not "
              "refute its death" % view(a.ctl)["yard-b"][1])
        for n in (a, c):
            try:
                wait_for(lambda: sorted(names_of_node(n.ctl, "yard-b")) == b_names, 5,
                         "yard-b's names")
            except Failure:
                had = names_of_node(n.ctl, "yard-b")
                counters = counter_lines(n.ctl, "^yard_cluster_.*_total$")
                # How late they come, if at all (a push/pull interval is 30 s).
                t_late = time.monotonic()
                try:
                    wait_for(lambda: sorted(names_of_node(n.ctl, "yard-b")) == b_names, 35, "")
                    late = "they arrived %.1f s later" % (5 + time.monotonic() - t_late)
                except Failure:
                    late = "they had not arrived 40 s after the rejoin"
                raise Failure("%s's directory on the restarted yard-b: %r, expected %r (replayed "
                              "from yard-b's log) within 5 s of the rejoin; %s; %s's cluster "
                              "counters then: %s" % (n.name, had, b_names, late, n.name, " ".join(
                                  "%s=%d" % (k[len("yard_cluster_"):-len("_total")], v)
                                  for k, v in sorted(counters.items()) if v)))
        locs = locations_of(a.ctl, "svc-b")
        check([(x["origin"], x["node"], x["ipv4"], x["port"]) for x in locs] ==
              [("remote", "yard-b", b.data_ip, 7400)], "yard-a's location of svc-b: %r" % locs)
        check(re.search(r"cluster: member yard-b joined", a.ctl.log_text().split(
            "member yard-b failed", 1)[1]), "no 'cluster: member yard-b joined' after the failure "
              "in yard-a's log")
        msg = Envelope("svc-b", "client-a", id=12, ttl=8, body=b"welcome back")
        a.send(msg)
        got = svc_b.recv(1, timeout=3)
        check(got and got[0]["payload"] == msg.encode(ttl=6),
              "svc-b on the restarted yard-b got %r from yard-a" % (got,))

        # ---- FANOUT from outside the cluster ----
        before = c.dp.counters()["fanout_not_member"]
        forged = Envelope("news", "intruder", kind=KIND_FANOUT, id=99, body=b"forged")
        c.send(forged)
        c.dp.wait_counter("fanout_not_member", before + 1)
        subs[2].expect_nothing(0.5)
        out = c.dp.yardctl("stats").stdout
        check(re.search(r"fanout_not_member\s+[1-9]", out),
              "yardctl stats on yard-c does not show fanout_not_member:\n" + out)

    print("#   formed %.1f s after the last start; yard-b declared dead after %s s (bound %.1f s); rejoined in "
          "%.1f s; stream %d sent, %d received; whole test %.1f s" % (
              t_form, ", ".join("%.1f on %s" % (v, k) for k, v in sorted(detected.items())),
              bound, t_rejoin, sent, len(streamed), time.monotonic() - t_start))
