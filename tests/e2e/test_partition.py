"""test_partition.py - the cluster through a network partition and a
flapping member.

Three yard-control nodes (no dataplanes: membership only), each in a
namespace of its own with one interface on a shared bridge, gossiping on
198.18.110.N:7946 with memberlist's LAN profile:

    lan ns   br0 ── eth0 of yard-1 (198.18.110.1)  yard-2 (.2)  yard-3 (.3)

A partition is a firewall: nftables rules in yard-1's namespace drop the
UDP and TCP it exchanges with the others' addresses. The rules match
addresses rather than ports because memberlist's TCP streams (push/pull,
fallback pings) leave from an ephemeral port: on one shared loopback no
rule could tell yard-1's streams from the others', which is why every node
has an address of its own here.

A flapping member is one that stops answering for a while and comes back,
over and over (SIGSTOP/SIGCONT, as a stalled VM or a GC pause would): the
others must keep their gossip traffic bounded by the configuration, retire
stale news instead of queueing it, and agree again afterwards.
"""
import contextlib
import math
import re
import shutil
import signal
import time

from harness import Bridge, Failure, Netns, check, sh, wait_for
from test_cluster import failure_detection_s, suspicion_timeout_s, view, wait_states
from test_cluster_serf import YardNode

PORT = 7946
N = 3
# memberlist's LAN profile (memberlist.md section 8), which these nodes run.
PROBE_INTERVAL_MS, GOSSIP_INTERVAL_MS, GOSSIP_NODES = 1000, 200, 3
INDIRECT_CHECKS, RETRANSMIT_MULT = 3, 4
UDP_PACKET_MAX = 1400  # memberlist's UDPBufferSize: no gossip datagram is larger
AWARENESS_MAX = 8
PUSH_PULL_INTERVAL_MS = 10000  # anti-entropy: full state exchanges, shortened from 30 s
# A healed partition is repaired within one push/pull interval, plus the
# refutations' gossip.
CONVERGE_S = PUSH_PULL_INTERVAL_MS / 1000.0 + 5
HOLD_S = 5.0  # far beyond any broadcast's retransmissions (4 x 200 ms)
FLAP_PERIOD_S, FLAP_FOR_S = 2.0, 15.0


def isolated_detection_s(n, slack_s=1.0):
    """Longest time for a member cut off from all others to declare them
    all dead. As in failure_detection_s, the last of them may be probed
    again only after the others (twice) and the tick spent on the wrap;
    but here every failed probe also raises the member's own awareness by
    one, as no nack comes back either (Lifeguard, memberlist.md section 7),
    and each raise lengthens every later interval by one probe interval."""
    probe = PROBE_INTERVAL_MS / 1000.0
    t, score = probe, 0  # cut just after the last one's probe: the next tick
    for tick in ["other"] * (n - 2) + ["wrap"] + ["other"] * (n - 2) + ["last"]:
        t += min(score + 1, AWARENESS_MAX) * probe
        score += tick == "other"
    return t + suspicion_timeout_s(n) + slack_s


def gossip_bytes_per_s_bound(n):
    """The most UDP a healthy member may send per second (bytes), from the
    configuration: every gossip interval one packet to each of up to
    gossip_nodes others; every probe interval one ping of its own plus
    indirect_checks requests when it fails, an ack for each of the n - 1
    others' probes and, relaying for them, a ping and an ack or nack for
    each of their indirect requests; each packet at most 1400 bytes."""
    per_s = 1000.0 / GOSSIP_INTERVAL_MS * min(GOSSIP_NODES, n - 1)
    per_s += 1000.0 / PROBE_INTERVAL_MS * ((1 + INDIRECT_CHECKS) + (n - 1) + 2 * (n - 2))
    return per_s * UDP_PACKET_MAX


def retransmit_limit(n):
    """How many times one broadcast is sent (memberlist.md section 6.3)."""
    return RETRANSMIT_MULT * math.ceil(math.log10(n + 1))


def cut(node, others):
    """Drop node's UDP and TCP to and from the others' addresses."""
    addrs = ", ".join(o.addr.split(":")[0] for o in others)
    rules = ("table inet yard_partition {\n"
             " chain in { type filter hook input priority 0; policy accept;\n"
             "  ip saddr { %s } meta l4proto { udp, tcp } drop; }\n"
             " chain out { type filter hook output priority 0; policy accept;\n"
             "  ip daddr { %s } meta l4proto { udp, tcp } drop; }\n"
             "}\n" % (addrs, addrs))
    sh(["nft", "-f", "-"], ns=node.ns, input=rules)


def heal(node):
    sh(["nft", "delete", "table", "inet", "yard_partition"], ns=node.ns)


def wait_converged(nodes, timeout, what):
    """Until every node's members.list shows every node alive, with the same
    incarnations everywhere; returns (seconds, the common view)."""
    t0 = time.monotonic()
    names = sorted(n.name for n in nodes)
    last = {}

    def same():
        last.clear()
        for n in nodes:
            last[n.name] = view(n.ctl)
        views = list(last.values())
        return (sorted(views[0]) == names and all(s == "alive" for s, _ in views[0].values())
                and all(v == views[0] for v in views))
    try:
        wait_for(same, timeout, what, interval=0.1)
    except Failure:
        raise Failure("%s: no common all-alive view after %.0f s:\n%s" % (what, timeout, "\n".join(
            "  %s: %s" % (k, " ".join("%s=%s/%d" % (m, s, i) for m, (s, i) in sorted(v.items())))
            for k, v in sorted(last.items()))))
    return time.monotonic() - t0, last[nodes[0].name]


def gossip_counters(node):
    m = node.ctl.metrics()
    return {k[len("yard_gossip_"):-len("_total")]: v for k, v in m.items()
            if k.startswith("yard_gossip_")}


def flapping(nodes, flap, note):
    """Flap `flap` (SIGSTOP/SIGCONT every FLAP_PERIOD_S for FLAP_FOR_S) and
    check the others' gossip meanwhile."""
    watch = [n for n in nodes if n is not flap]

    # Start from empty broadcast queues (nothing sent for a second), so
    # every transmission in the window is of a broadcast queued in it.
    def quiet():
        sent = [gossip_counters(n)["broadcasts_sent"] for n in nodes]
        time.sleep(1.0)
        return sent == [gossip_counters(n)["broadcasts_sent"] for n in nodes]
    wait_for(quiet, 10, "the broadcast queues to drain before the flapping", interval=0)
    flap_before = gossip_counters(flap)
    before = {n.name: gossip_counters(n) for n in watch}
    t_prev = {n.name: time.monotonic() for n in watch}
    prev = dict(before)
    peak = {n.name: 0.0 for n in watch}
    bound = gossip_bytes_per_s_bound(len(nodes))
    t0 = time.monotonic()
    stopped = False
    next_flip = t0
    try:
        while time.monotonic() - t0 < FLAP_FOR_S:
            if time.monotonic() >= next_flip:
                flap.ctl.proc.send_signal(signal.SIGCONT if stopped else signal.SIGSTOP)
                stopped = not stopped
                next_flip += FLAP_PERIOD_S
            for n in watch:  # the busiest second of each watcher
                now = time.monotonic()
                if now - t_prev[n.name] < 1.0:
                    continue
                c = gossip_counters(n)
                rate = (c["udp_bytes_out"] - prev[n.name]["udp_bytes_out"]) / (now - t_prev[n.name])
                peak[n.name] = max(peak[n.name], rate)
                prev[n.name], t_prev[n.name] = c, now
            time.sleep(0.05)
    finally:
        flap.ctl.proc.send_signal(signal.SIGCONT)
    elapsed = time.monotonic() - t0
    refuted = gossip_counters(flap)["refutations"] - flap_before["refutations"]
    note("%s refuted %d accusations while flapping" % (flap.name, refuted))
    check(refuted > 0, "%s was never suspected while it flapped (no refutation)" % flap.name)
    limit = retransmit_limit(len(nodes))
    for n in watch:
        b, a = before[n.name], gossip_counters(n)
        avg = (a["udp_bytes_out"] - b["udp_bytes_out"]) / elapsed
        queued = a["broadcasts_queued"] - b["broadcasts_queued"]
        sent = a["broadcasts_sent"] - b["broadcasts_sent"]
        note("%s: gossip out %.0f B/s on average, %.0f B/s in the busiest second (bound %.0f); "
             "%d broadcasts queued, %d replaced, %d dropped, %d transmissions" % (
                 n.name, avg, peak[n.name], bound, queued,
                 a["broadcasts_replaced"] - b["broadcasts_replaced"],
                 a["broadcasts_dropped"] - b["broadcasts_dropped"], sent))
        check(peak[n.name] <= bound, "%s sent %.0f bytes/s of gossip while %s flapped; the "
              "configuration allows %.0f" % (n.name, peak[n.name], flap.name, bound))
        check(sent <= queued * limit, "%s: %d broadcast transmissions for %d broadcasts; each "
              "may go out at most %d times" % (n.name, sent, queued, limit))
        check("broadcasts_dropped" in a and "broadcasts_replaced" in a,
              "the broadcast queue's limits are not in /metrics (yard_gossip_broadcasts_dropped_"
              "total, yard_gossip_broadcasts_replaced_total)")


def partition(nodes, one, note):
    """Cut `one` off from the others, check both sides' verdicts, heal."""
    rest = [n for n in nodes if n is not one]
    t_cut = time.monotonic()
    cut(one, rest)
    majority = failure_detection_s(len(nodes))
    minority = isolated_detection_s(len(nodes))
    for n in rest:
        wait_states(n.ctl, {one.name: "dead"}, majority - (time.monotonic() - t_cut),
                    "%s to declare the cut-off %s dead within %.1f s" % (n.name, one.name,
                                                                          majority))
        wait_states(n.ctl, {o.name: "alive" for o in rest}, 1,
                    "%s to keep its side of the partition alive" % n.name)
    t_majority = time.monotonic() - t_cut
    wait_states(one.ctl, {n.name: "dead" for n in rest}, minority - (time.monotonic() - t_cut),
                "the cut-off %s to declare the others dead within %.1f s" % (one.name, minority))
    t_minority = time.monotonic() - t_cut
    note("partition seen after %.1f s by the majority (bound %.1f s), after %.1f s by %s (bound "
         "%.1f s)" % (t_majority, majority, t_minority, one.name, minority))
    for n in rest:
        check(re.search(r"cluster: member %s failed %s" % (one.name, re.escape(one.addr)),
                        n.ctl.log_text()), "no 'member %s failed' line in %s's log:\n%s" % (
                            one.name, n.name, n.ctl.log_tail()))
        check(re.search(r"cluster: member %s failed %s" % (n.name, re.escape(n.addr)),
                        one.ctl.log_text()), "no 'member %s failed' line in %s's log:\n%s" % (
                            n.name, one.name, one.ctl.log_tail()))
    st = one.ctl.status()["cluster"]
    check((st["alive"], st["dead"]) == (1, len(rest)), "%s's status.get cluster: %r" % (
        one.name, st))
    # Held a while longer, so that every broadcast about the verdicts has
    # been sent its full count into the void: partitions outlast them, and
    # healing must not depend on leftovers crossing.
    time.sleep(HOLD_S)
    heal(one)


def test_partition(build):
    """A flapping member does not make the others' gossip exceed what the
    configuration allows, and each broadcast is retransmitted a bounded
    number of times; the lists converge afterwards. A member cut off by a
    firewall is declared dead by the others and declares them dead; once
    healed, every member list converges to the same all-alive view."""
    check(shutil.which("nft"), "nft is not installed (apt-get install nftables)")
    t_start = time.monotonic()

    def note(text):  # timings for the report, as they are measured
        print("#   " + text, flush=True)
    with contextlib.ExitStack() as stack:
        lan = stack.enter_context(Bridge("lan"))
        addrs = ["198.18.110.%d:%d" % (i, PORT) for i in range(1, N + 1)]
        nodes = []
        for i in range(1, N + 1):
            ns = stack.enter_context(Netns("p%d" % i)).ns
            lan.attach(ns, "eth0", "p%d" % i, ip="198.18.110.%d/24" % i)
            seeds = [a for a in addrs if a != addrs[i - 1]]
            nodes.append(stack.enter_context(YardNode(
                ns, build, "yard-%d" % i, addrs[i - 1], join=seeds,
                push_pull_interval_ms=PUSH_PULL_INTERVAL_MS)))
        took, _ = wait_converged(nodes, 10, "the cluster to form")
        note("formed in %.1f s" % took)

        flapping(nodes, nodes[2], note)
        took, _ = wait_converged(nodes, CONVERGE_S, "the member lists to converge after the "
                                 "flapping stopped")
        note("converged %.1f s after the flapping" % took)

        partition(nodes, nodes[0], note)
        took, common = wait_converged(nodes, CONVERGE_S, "the member lists to converge after the "
                                      "partition healed")
        note("converged %.1f s after the heal" % took)
        check(common[nodes[0].name][1] > 1, "%s is alive again without having refuted its death "
              "(incarnation %d)" % (nodes[0].name, common[nodes[0].name][1]))
    note("whole test %.1f s" % (time.monotonic() - t_start))
