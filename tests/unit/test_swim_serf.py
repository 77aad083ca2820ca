#!/usr/bin/python3
"""Switchyard's gossip engine in a cluster with real serf agents.

swim_node (one swim instance from the command line) and Debian's serf
0.9.4 agent join each other on 127.0.0.1, as an operator would run them,
and are judged by what each side reports: `serf members` on the serf side,
swim_node's event lines on ours.

  1. a serf agent joins a swim_node, and a swim_node joins a serf agent:
     serf lists the swim node alive with its tags, swim_node reports the
     agent joined;
  2. SIGKILL a swim_node: its serf peer reports it failed within the
     default detection time (memberlist.md section 11: about 5-7 s);
  3. SIGKILL a serf agent: its swim_node peer reports it dead as fast;
  4. the same with a shared key (`serf keygen`, `-encrypt`); a swim_node
     with another key is refused (never listed, its join fails), and the
     keyed node counts what it could not decrypt: the intruder's stream,
     a datagram sealed with another key, and a plaintext one.

The cases run concurrently, each on its own free ports.

    test_swim_serf.py SWIM_NODE

Exits 77 (skipped) when /usr/bin/serf is not installed.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

SERF = "/usr/bin/serf"
# memberlist.md section 11: 5-7 s for <= 3 nodes with LAN defaults; the
# bound leaves a second for polling and process start-up on a busy box.
DETECT_S = 9.0

procs = []
procs_lock = threading.Lock()
workdir = tempfile.mkdtemp(prefix="swim-serf-")
ports_lock = threading.Lock()
ports_taken = set()


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (and not handed out
    before in this run)."""
    with ports_lock:
        while True:
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                u.close()
                t.close()
            if port not in ports_taken:
                ports_taken.add(port)
                return port


def spawn(args, log_name, **kw):
    log = open(os.path.join(workdir, log_name), "w")
    p = subprocess.Popen(args, stdout=kw.pop("stdout", log), stderr=subprocess.STDOUT,
                         **kw)
    with procs_lock:
        procs.append(p)
    return p


def wait_for(cond, timeout, step=0.1):
    """cond() until true or timeout; returns the seconds it took or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    return None


class SerfAgent:
    def __init__(self, name, extra=()):
        self.name = name
        self.port = free_port()
        self.rpc = free_port()
        self.proc = spawn([SERF, "agent", f"-node={name}", f"-bind=127.0.0.1:{self.port}",
                           f"-rpc-addr=127.0.0.1:{self.rpc}", "-log-level=debug",
                           "-profile=lan", *extra], f"serf-{name}.log")
        self.addr = f"127.0.0.1:{self.port}"

    def members(self):
        """{name: (status, tags)} as `serf members` shows them."""
        r = subprocess.run([SERF, "members", f"-rpc-addr=127.0.0.1:{self.rpc}",
                            "-format=json"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return {}
        return {m["name"]: (m["status"], m.get("tags") or {})
                for m in json.loads(r.stdout)["members"]}

    def status_of(self, name):
        return self.members().get(name, (None, None))[0]


class SwimNode:
    def __init__(self, binary, name, joins=(), keys=(), tags=()):
        self.name = name
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        args = [binary, "--name", name, "--bind", self.addr]
        for j in joins:
            args += ["--join", j]
        for k in keys:
            args += ["--key", k]
        for t in tags:
            args += ["--meta-tag", t]
        self.lines = []
        self.cond = threading.Condition()
        self.proc = spawn(args, f"swim-{name}.log", stdout=subprocess.PIPE, text=True)
        self.log = open(os.path.join(workdir, f"swim-{name}.log"), "a")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def saw(self, line):
        with self.cond:
            return line in self.lines

    def wait_line(self, line, timeout):
        t0 = time.monotonic()
        with self.cond:
            while line not in self.lines:
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    return None
                self.cond.wait(left)
        return time.monotonic() - t0

    def stats(self):
        """The counters swim_node prints on SIGUSR2."""
        with self.cond:
            start = len(self.lines)
        self.proc.send_signal(signal.SIGUSR2)
        with self.cond:
            ok = self.cond.wait_for(lambda: "end" in self.lines[start:], 5)
            assert ok, f"{self.name} printed no stats"
            block = self.lines[start:start + self.lines[start:].index("end")]
        return {w[1]: int(w[2]) for w in (l.split() for l in block) if w[0] == "stat"}


def check(ok, what):
    if not ok:
        raise AssertionError(what)
    print(f"ok - {what}", flush=True)


def case_serf_joins_swim_then_swim_dies(binary):
    a = SwimNode(binary, "yard-a", tags=("role=yard", "dc=lab"))
    check(a.wait_line(f"ready {a.addr}", 5) is not None, "swim_node yard-a started")
    s1 = SerfAgent("serf-1", extra=[f"-join={a.addr}", "-tag", "role=web"])
    check(wait_for(lambda: s1.members().get("yard-a") == ("alive", {"role": "yard", "dc": "lab"}),
                   10) is not None,
          "serf-1 (joined yard-a) lists yard-a alive with tags role=yard,dc=lab")
    check(a.wait_line(f"join serf-1 {s1.addr}", 5) is not None,
          "yard-a reports serf-1 joined")
    a.proc.send_signal(signal.SIGKILL)
    took = wait_for(lambda: s1.status_of("yard-a") == "failed", DETECT_S + 5)
    check(took is not None and took <= DETECT_S,
          f"serf-1 reports the killed yard-a failed in {took and round(took, 1)} s "
          f"(bound {DETECT_S} s)")


def case_swim_joins_serf_then_serf_dies(binary):
    s2 = SerfAgent("serf-2")
    check(wait_for(lambda: s2.status_of("serf-2") == "alive", 10) is not None,
          "serf-2 started")
    b = SwimNode(binary, "yard-b", joins=(s2.addr,), tags=("role=router",))
    check(b.wait_line("joined", 10) is not None, "yard-b's join to serf-2 succeeded")
    check(b.wait_line(f"join serf-2 {s2.addr}", 5) is not None, "yard-b reports serf-2 joined")
    check(wait_for(lambda: s2.members().get("yard-b") == ("alive", {"role": "router"}), 10)
          is not None, "serf-2 lists yard-b alive with tag role=router")
    s2.proc.send_signal(signal.SIGKILL)
    took = b.wait_line("leave serf-2 dead", DETECT_S + 5)
    check(took is not None and took <= DETECT_S,
          f"yard-b reports the killed serf-2 dead in {took and round(took, 1)} s "
          f"(bound {DETECT_S} s)")


def sealed_ping(key):
    """A memberlist ping sealed as a UDP packet with `key` (vsn 1)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    ping = b"\x00\x82\xa4Node\xa0\xa5SeqNo\x01"
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, ping, None)


def case_encrypted(binary):
    key = subprocess.run([SERF, "keygen"], capture_output=True, text=True,
                         check=True).stdout.strip()
    wrong = base64.b64encode(os.urandom(32)).decode()
    s3 = SerfAgent("serf-3", extra=[f"-encrypt={key}"])
    check(wait_for(lambda: s3.status_of("serf-3") == "alive", 10) is not None,
          "serf-3 (encrypted) started")
    c = SwimNode(binary, "yard-c", joins=(s3.addr,), keys=(key,), tags=("role=yard",))
    check(c.wait_line("joined", 10) is not None, "yard-c joined serf-3 with the shared key")
    check(wait_for(lambda: s3.status_of("yard-c") == "alive", 10) is not None,
          "serf-3 lists yard-c alive")
    s4 = SerfAgent("serf-4", extra=[f"-encrypt={key}", f"-join={c.addr}"])
    check(c.wait_line(f"join serf-4 {s4.addr}", 10) is not None,
          "serf-4 (same key) joined through yard-c")
    check(wait_for(lambda: s3.status_of("serf-4") == "alive", 10) is not None,
          "serf-3 learnt of serf-4 through yard-c's cluster")

    d = SwimNode(binary, "yard-d", joins=(c.addr,), keys=(wrong,))
    check(d.wait_line(f"ready {d.addr}", 5) is not None, "yard-d (wrong key) started")
    seen = wait_for(lambda: "yard-d" in s3.members() or c.saw(f"join yard-d {d.addr}"), 4)
    check(seen is None, "yard-d with the wrong key is never listed, by serf or yard-c")
    check(not d.saw("joined"), "yard-d's join did not succeed")
    ds = d.stats()
    check(ds["join_failures"] >= 1 and ds["rejects_key"] >= 1,
          f"yard-d counts its failed join ({ds['join_failures']}) and the reply it could not "
          f"decrypt ({ds['rejects_key']})")

    before = c.stats()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(sealed_ping(os.urandom(32)), ("127.0.0.1", c.port))
    # a plaintext suspect{yard-c}: refused before it could make yard-c refute
    sock.sendto(b"\x03\x83\xa4From\xa1x\xabIncarnation\x01\xa4Node\xa6yard-c",
                ("127.0.0.1", c.port))
    sock.close()
    time.sleep(0.5)
    after = c.stats()
    check(after["rejects_key"] >= 1, f"yard-c refused yard-d's stream ({after['rejects_key']})")
    check(after["packet_decrypt_failed"] == before["packet_decrypt_failed"] + 1,
          "yard-c counts the datagram sealed with another key as a decrypt failure")
    check(after["packet_plaintext_refused"] == before["packet_plaintext_refused"] + 1 and
          after["refutations"] == before["refutations"],
          "yard-c refuses (and counts) a plaintext suspect about itself, without acting on it")
    check(s3.status_of("yard-c") == "alive", "yard-c is still alive for serf-3")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if not os.access(SERF, os.X_OK):
        print(f"skipped: {SERF} not installed")
        return 77
    binary = os.path.abspath(sys.argv[1])
    cases = [case_serf_joins_swim_then_swim_dies, case_swim_joins_serf_then_serf_dies,
             case_encrypted]
    failed = 0
    try:
        with ThreadPoolExecutor(len(cases)) as pool:
            futures = {pool.submit(c, binary): c.__name__ for c in cases}
            for f, name in futures.items():
                try:
                    f.result()
                except Exception:
                    failed += 1
                    print(f"FAIL - {name}:\n{traceback.format_exc()}", flush=True)
    finally:
        with procs_lock:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
    if failed:
        for name in sorted(os.listdir(workdir)):
            print(f"---- {name}")
            with open(os.path.join(workdir, name), errors="replace") as f:
                print(f.read()[-3000:])
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'FAIL' if failed else 'PASS'}: {failed} of {len(cases)} cases failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
