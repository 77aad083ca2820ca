"""test_cluster_serf.py - yard-control and real Serf agents in one cluster.

Switchyard speaks memberlist's protocol so that an operator's existing Serf
agents (and anything else built on memberlist) can share the membership:
`serf members` lists the appliances with their tags, and yardctl lists the
agents. Everything here runs in one namespace of its own on 127.0.0.1, each
process on a port of its own; no dataplane is needed for membership.

Timing is memberlist's LAN profile on both sides, as `serf agent` runs by
default, so the failure detection checked is what an operator gets.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

import harness
from control import ConfigOnly, Control
from harness import Failure, Netns, _register, _release, check, wait_for
from test_cluster import cluster_yaml, failure_detection_s, wait_states, yardctl_members

DATA = "198.18.200.1:7400"  # ConfigOnly's port 0 with the default data port


class Serf:
    """A `serf agent` in namespace ns on 127.0.0.1:port, its RPC on rpc_port."""

    def __init__(self, ns, name, port, rpc_port, encrypt=None):
        self.ns, self.name, self.port, self.rpc = ns, name, port, rpc_port
        self.addr = "127.0.0.1:%d" % port
        self.args = ["serf", "agent", "-node", name, "-bind", self.addr, "-rpc-addr",
                     "127.0.0.1:%d" % rpc_port, "-log-level", "debug"]
        if encrypt:
            self.args += ["-encrypt", encrypt]
        self.log = os.path.join(harness.RUN_DIR, "serf-%s.log" % name)
        self.proc = None
        self.key = ("serf", ns, name)

    def __enter__(self):
        os.makedirs(harness.RUN_DIR, exist_ok=True)
        with open(self.log, "a") as logf:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns] + self.args,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=harness._die_with_parent(signal.SIGKILL))
        _register(self.key, self._stop)
        wait_for(lambda: self._cli("members", check_rc=False).returncode == 0 or self._died(),
                 10, "serf agent %s to answer on its RPC port" % self.name, interval=0.1)
        return self

    def __exit__(self, *exc):
        _release(self.key)

    def _died(self):
        if self.proc.poll() is not None:
            raise Failure("serf agent %s exited with %d:\n%s" % (
                self.name, self.proc.returncode, self.log_text()[-2000:]))
        return False

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def _cli(self, cmd, *args, check_rc=True):
        # Go's flag package stops at the first operand: options go first.
        return harness.sh(["serf", cmd, "-rpc-addr", "127.0.0.1:%d" % self.rpc] + list(args),
                          ns=self.ns, check_rc=check_rc)

    def join(self, addr):
        """`serf join addr`: (exit code, output)."""
        p = self._cli("join", addr, check_rc=False)
        return p.returncode, (p.stdout + p.stderr).strip()

    def members(self):
        """`serf members -format json`: {name: member}."""
        return {m["name"]: m for m in json.loads(self._cli("members", "-format", "json").stdout)[
            "members"]}

    def members_text(self):
        return self._cli("members").stdout

    def wait_status(self, name, status, timeout, what):
        last = {}

        def reached():
            last.clear()
            last.update(self.members())
            return last.get(name, {}).get("status") == status
        try:
            wait_for(reached, timeout, what, interval=0.1)
        except Failure:
            raise Failure("%s: serf members on %s says %r after %.1f s" % (
                what, self.name, {n: m["status"] for n, m in last.items()}, timeout))

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class YardNode:
    """yard-control with a cluster section (LAN profile, gossip on addr
    "IP:PORT", timing overrides as keyword arguments) and no dataplane, in
    namespace ns."""

    seq = 0

    def __init__(self, ns, build, name, addr, join=(), keys=(), **timing):
        YardNode.seq += 1
        self.cfg = ConfigOnly("%sxs%d" % (harness.RUN, YardNode.seq))
        self.ns, self.name, self.addr = ns, name, addr
        self.timing = timing
        self.set_cluster(join, keys)
        self.ctl = Control(self.cfg, build, netns=ns, node=name)

    def set_cluster(self, join=(), keys=()):
        self.cfg.extra_yaml = {"cluster": cluster_yaml(self.addr, join=join, profile="lan",
                                                       keys=keys, **self.timing)}
        self.cfg.write_config()

    def __enter__(self):
        self.ctl.start()
        return self

    def __exit__(self, *exc):
        self.ctl._end()  # the configuration and log stay for a failing run's report


def serf_tags(text_line):
    return dict(kv.split("=", 1) for kv in text_line.split()[-1].split(","))


def test_cluster_serf(build):
    """A serf agent joins a yard node and a yard node joins a serf agent;
    each lists the other (serf with the yard node's tags role and data);
    each notices the other's SIGKILL within memberlist's failure detection
    time; with a shared key the same works encrypted, and a yard node with
    the wrong key is never admitted and counts the refused traffic."""
    check(shutil.which("serf"), "serf is not installed (apt-get install serf)")
    t_start = time.monotonic()
    bound = failure_detection_s(2)
    t_step = [t_start]

    def note(text):  # timings for the report, as they are measured
        now = time.monotonic()
        print("#   %s (step %.1f s)" % (text, now - t_step[0]), flush=True)
        t_step[0] = now
    with contextlib.ExitStack() as stack:
        ns = stack.enter_context(Netns("serf")).ns

        # ---- a serf agent joins the yard node ----
        yard = stack.enter_context(YardNode(ns, build, "yard-1", "127.0.0.1:7946"))
        s1 = stack.enter_context(Serf(ns, "serf-1", 7950, 7373))
        rc, out = s1.join(yard.addr)
        check(rc == 0 and "Successfully joined" in out, "serf join %s: %s" % (yard.addr, out))
        s1.wait_status("yard-1", "alive", 5, "serf to list yard-1 alive")
        m = s1.members()["yard-1"]
        check((m["addr"], m["tags"]) == (yard.addr, {"role": "switchyard", "data": DATA}),
              "serf members: yard-1 is %r" % m)
        line = [x for x in s1.members_text().splitlines() if x.startswith("yard-1 ")]
        check(line and " alive " in line[0] and serf_tags(line[0]) == {
            "role": "switchyard", "data": DATA}, "serf members text: %r" % line)
        wait_states(yard.ctl, {"serf-1": "alive", "yard-1": "alive"}, 5,
                    "yard-1 to list serf-1 alive")
        me = yard.ctl.members()["serf-1"]
        check((me["address"], me["role"], me["data"], me["self"]) ==
              (s1.addr, "other", None, False), "members.list: serf-1 is %r" % me)
        row = yardctl_members(yard.ctl).get("serf-1")
        check(row is not None and (row["state"], row["role"], row["address"]) ==
              ("alive", "other", s1.addr), "yardctl members list: serf-1 is %r" % row)
        check(re.search(r"cluster: member serf-1 joined 127\.0\.0\.1:7950", yard.ctl.log_text()),
              "no 'cluster: member serf-1 joined' line:\n" + yard.ctl.log_tail())
        note("serf-1 joined yard-1; each lists the other")

        # ---- SIGKILL the serf agent: yard-1 declares it failed ----
        t0 = time.monotonic()
        s1.kill()
        wait_states(yard.ctl, {"serf-1": "dead"}, bound,
                    "yard-1 to declare the killed serf-1 dead within %.1f s" % bound)
        note("serf-1 dead on yard-1 %.1f s after its SIGKILL (bound %.1f s)" % (
            time.monotonic() - t0, bound))
        check(re.search(r"cluster: member serf-1 failed 127\.0\.0\.1:7950", yard.ctl.log_text()),
              "no 'cluster: member serf-1 failed' line:\n" + yard.ctl.log_tail())
        check(yard.ctl.status()["cluster"]["dead"] == 1, "status.get: %r" % (
            yard.ctl.status()["cluster"],))

        # ---- the yard node joins a serf agent through cluster.join ----
        s2 = stack.enter_context(Serf(ns, "serf-2", 7951, 7374))
        yard.ctl.kill(signal.SIGTERM)
        yard.set_cluster(join=[s2.addr])
        yard.ctl.start()
        s2.wait_status("yard-1", "alive", 5, "serf-2 to list yard-1 after its cluster.join")
        check(s2.members()["yard-1"]["tags"] == {"role": "switchyard", "data": DATA},
              "serf members on serf-2: %r" % s2.members()["yard-1"])
        wait_states(yard.ctl, {"serf-2": "alive"}, 5, "yard-1 to list serf-2 alive")
        check(yard.ctl.status()["cluster"]["joined"], "status.get says not joined: %r" % (
            yard.ctl.status()["cluster"],))
        note("yard-1 joined serf-2 through cluster.join")

        # ---- SIGKILL yard-control: serf declares it failed ----
        t0 = time.monotonic()
        yard.ctl.kill(signal.SIGKILL)
        s2.wait_status("yard-1", "failed", bound,
                       "serf-2 to report the killed yard-1 failed within %.1f s" % bound)
        note("yard-1 failed on serf-2 %.1f s after its SIGKILL (bound %.1f s)" % (
            time.monotonic() - t0, bound))

        # ---- the same with a shared key ----
        key = harness.sh(["serf", "keygen"]).stdout.strip()
        wrong = harness.sh(["serf", "keygen"]).stdout.strip()
        s3 = stack.enter_context(Serf(ns, "serf-3", 7952, 7375, encrypt=key))
        y2 = stack.enter_context(YardNode(ns, build, "yard-2", "127.0.0.1:7947", join=[s3.addr],
                                          keys=[key]))
        s3.wait_status("yard-2", "alive", 5, "serf-3 (encrypted) to list yard-2 with the key")
        wait_states(y2.ctl, {"serf-3": "alive"}, 5, "yard-2 to list the encrypted serf-3")
        # Probes flow both ways under the key, and none of it is refused.
        m = wait_for(lambda: (lambda m: m if m["yard_gossip_msg_ack_in_total"] > 0 and
                              m["yard_gossip_msg_ping_in_total"] > 0 else None)(y2.ctl.metrics()),
                     5, "yard-2 and serf-3 to probe each other under the key", interval=0.2)
        check(m["yard_gossip_packet_decrypt_failed_total"] == 0 and
              m["yard_gossip_rejects_key_total"] == 0,
              "yard-2 refused traffic under the shared key: decrypt_failed %d, rejects_key %d" % (
                  m["yard_gossip_packet_decrypt_failed_total"], m["yard_gossip_rejects_key_total"]))
        note("yard-2 joined serf-3 under a shared key")

        y3 = stack.enter_context(YardNode(ns, build, "yard-3", "127.0.0.1:7948",
                                          join=[s3.addr], keys=[wrong]))
        rc, out = s3.join(y3.addr)
        check(rc != 0 and "Failed to join" in out,
              "serf join of the wrong-key yard-3 did not fail as a refused join: %s" % out)
        # yard-3 keeps retrying its seed meanwhile; serf must never admit it.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            check("yard-3" not in s3.members(), "serf-3 lists the wrong-key yard-3: %r" % (
                s3.members().get("yard-3"),))
            time.sleep(0.25)
        check("yard-3" not in y2.ctl.members(), "yard-2 lists the wrong-key yard-3")
        check(set(y3.ctl.members()) == {"yard-3"}, "the wrong-key yard-3 lists %r" % sorted(
            y3.ctl.members()))
        m = y3.ctl.metrics()
        refused = (m["yard_gossip_packet_decrypt_failed_total"] +
                   m["yard_gossip_rejects_key_total"])
        check(refused > 0, "yard-3 did not count serf's traffic under another key: "
              "decrypt_failed %d, rejects_key %d" % (
                  m["yard_gossip_packet_decrypt_failed_total"],
                  m["yard_gossip_rejects_key_total"]))
        note("yard-3 (wrong key) refused serf's traffic: decrypt_failed %d, rejects_key %d" % (
            m["yard_gossip_packet_decrypt_failed_total"], m["yard_gossip_rejects_key_total"]))
    print("#   whole test %.1f s" % (time.monotonic() - t_start))
