#!/usr/bin/python3
"""test_memif_reconnect.py - the dataplane outlives its memif peer.

yard-dataplane serves a memif port (role=server) and yard-loadgen connects
to it as the client, sends messages to names routed back to itself, and is
then stopped, alternately with SIGINT (it closes its port: a DISCONNECT
message) and SIGKILL (its socket just closes), and started again, CYCLES
times. After every stop the dataplane must still run, and after every
restart it must forward the new client's traffic again.

Why it is built this way: DPDK 22.11's memif driver tears a connection
down in the EAL interrupt thread (memif_disconnect: clear its "connected"
flag, then munmap the peer's regions microseconds later), while the worker
may be inside rte_eth_rx_burst or tx_burst between its test of that flag
and its reads of the ring. The worker dies only if it stalls in that window
while the unmap happens, which on a busy machine means it was preempted
there. So the worker polls without back-off, and each stop of the client
happens while a SCHED_FIFO spinner holds the worker's CPU (Preempt): the
worker stops wherever it was, the interrupt thread on the other CPU tears
the connection down, then the worker resumes. The client sends 1200-byte
messages as fast as it can, so the worker spends most of its time copying
inside the driver's bursts. Without the dataplane's guard
(dataplane/ports.c) the dataplane died of SIGSEGV in every one of 11 runs,
by the fifth cycle; with it the teardown waits until the worker has left
the burst. Both processes run with --no-huge --no-shconf: a SIGKILLed
client leaves no files behind and no hugepages are needed.

usage: test_memif_reconnect.py YARD_DATAPLANE YARD_LOADGEN YARDCTL [CYCLES]
Needs root (DPDK). Prints 'N passed, N failed' like the other scripts.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DATAPLANE, LOADGEN, YARDCTL = sys.argv[1], sys.argv[2], sys.argv[3]
CYCLES = int(sys.argv[4]) if len(sys.argv) > 4 else 16

DP_MAC, LG_MAC = "02:59:41:52:44:01", "02:59:41:52:44:02"
DP_IP, LG_IP, LG_PORT = "198.18.0.1", "198.18.0.2", 7500
NAMES = 16
DEADLINE_S = 100  # the whole run; meson's timeout is 120 s

WORKER_CPU = 1  # the dataplane's worker (-l 0,1, main lcore 0); everything else is on CPU 0

PASSED, FAILED = 0, 0


class Failure(Exception):
    pass


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def wait_for(what, fn, timeout, interval=0.02):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Preempt:
    """Take a CPU from whatever runs on it for a while: a child process
    spinning there at SCHED_FIFO priority. The dataplane's worker stops at
    whatever instruction it was on, as when the kernel preempts it on a busy
    machine, and resumes when the child exits (after `seconds`, whatever
    happens to this script). Where real-time priority is refused the child
    spins at normal priority and only shares the CPU: a weaker test, said so
    once."""

    CHILD = ("import os, sys, time\n"
             "os.sched_setaffinity(0, {%d})\n"
             "try:\n"
             "    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))\n"
             "    sys.stdout.write('f')\n"
             "except OSError:\n"
             "    sys.stdout.write('n')\n"
             "sys.stdout.flush()\n"
             "end = time.monotonic() + %f\n"
             "while time.monotonic() < end:\n"
             "    pass\n")
    warned = False

    def __init__(self, cpu, seconds):
        self.cpu, self.seconds = cpu, seconds

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", self.CHILD % (self.cpu, self.seconds)],
                                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        how = self.p.stdout.read(1)
        if how not in (b"f", b"n"):
            self.p.wait()
            raise Failure("the CPU %d spinner did not start" % self.cpu)
        if how == b"n" and not Preempt.warned:
            Preempt.warned = True
            print("  note: SCHED_FIFO refused; the worker is only sharing its CPU", flush=True)
        return self

    def __exit__(self, *exc):
        self.p.stdout.close()
        self.p.wait()


class Appliance:
    """The dataplane and its memif socket, configuration and logs in workdir."""

    def __init__(self, workdir):
        self.dir = workdir
        self.instance = "ymr%d" % os.getpid()
        self.sock = os.path.join(workdir, "memif.sock")
        self.dp_log = os.path.join(workdir, "dataplane.log")
        self.lg_log = os.path.join(workdir, "loadgen.log")
        self.config = os.path.join(workdir, "yard.yaml")
        self.dp = None
        self.lg = None
        self.lg_runs = 0

    def write_config(self):
        p = subprocess.run([LOADGEN, "--emit-routes", "--names", str(NAMES), "--src-ip", LG_IP,
                            "--src-port", str(LG_PORT), "--src-mac", LG_MAC],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0 or "- {name:" not in p.stdout:
            raise Failure("yard-loadgen --emit-routes: exit %d: %s" % (p.returncode, p.stderr))
        with open(self.config, "w") as f:
            f.write("instance: %s\nmode: rtc\nburst: 32\nmbufs: 16383\nmbuf_cache: 256\n"
                    "class_queue_size: 1024\nworkers: [1]\ntx_lcores: []\n"
                    "directory_capacity: 1024\npunt_rate_per_source: 0\n"
                    "ports:\n  - device: net_memif0\n    ipv4: %s/24\n    rx_desc: 1024\n"
                    "    tx_desc: 1024\nroutes:\n%s" % (self.instance, DP_IP, p.stdout))

    def start_dataplane(self):
        argv = [DATAPLANE, "-l", "0,1", "--main-lcore", "0", "--no-pci", "--no-huge",
                "--no-shconf", "-m", "256", "--file-prefix", self.instance + "dp", "--vdev",
                "net_memif0,role=server,socket=%s,mac=%s" % (self.sock, DP_MAC), "--", "-c",
                self.config, "--no-backoff"]
        with open(self.dp_log, "w") as log:
            self.dp = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)

        def ready():
            self.check_alive("starting")
            s = self.stats()
            return s if s and s["dataplane"]["ready"] else None
        wait_for("yard-dataplane to report ready", ready, 30)

    def check_alive(self, when):
        if self.dp.poll() is not None:
            rc = self.dp.returncode
            how = ("killed by signal %d%s" % (-rc, " (SIGSEGV)" if -rc == signal.SIGSEGV else "")
                   if rc < 0 else "exit %d" % rc)
            raise Failure("yard-dataplane died %s: %s; its log:\n%s" % (when, how,
                                                                        tail(self.dp_log)))

    def stats(self):
        p = subprocess.run([YARDCTL, "-i", self.instance, "stats", "-o", "json"],
                           capture_output=True, text=True, timeout=20)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def forwarded(self):
        """Messages the dataplane's lcores have transmitted so far."""
        s = self.stats()
        if s is None:
            raise Failure("yardctl stats failed while the dataplane runs")
        return s["totals"]["tx_packets"]

    def start_loadgen(self):
        """yard-loadgen as the memif client, sending until it is stopped. A
        client that finds the socket not accepting yet fails at once: retried."""
        argv = [LOADGEN, "--lcores", "0@0,1@0", "--main-lcore", "0", "--no-pci", "--no-huge",
                "--no-shconf", "-m", "256", "--file-prefix", self.instance + "lg", "--vdev",
                "net_memif0,role=client,socket=%s,mac=%s" % (self.sock, LG_MAC), "--",
                "--router-mac", DP_MAC, "--router-ip", DP_IP, "--src-ip", LG_IP, "--src-port",
                str(LG_PORT), "--names", str(NAMES), "--class-mix", "0,0,1,0", "--body-sizes",
                "1200", "--rate", "max", "--drain-ms", "0", "--link-timeout", "20"]
        for attempt in range(5):
            self.lg_runs += 1
            with open(self.lg_log, "a") as log:
                log.write("---- run %d\n" % self.lg_runs)
                log.flush()
                self.lg = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)
            time.sleep(0.2)
            if self.lg.poll() is None:
                return
            time.sleep(0.3)
        raise Failure("yard-loadgen could not start 5 times; its log:\n%s" % tail(self.lg_log))

    def stop_loadgen(self, sig):
        if self.lg is None or self.lg.poll() is not None:
            return
        self.lg.send_signal(sig)
        try:
            self.lg.wait(15)
        except subprocess.TimeoutExpired:
            self.lg.kill()
            self.lg.wait()

    def stop_all(self):
        if self.lg is not None and self.lg.poll() is None:
            self.lg.kill()
            self.lg.wait()
        if self.dp is not None and self.dp.poll() is None:
            self.dp.send_signal(signal.SIGINT)
            try:
                self.dp.wait(15)
            except subprocess.TimeoutExpired:
                self.dp.kill()
                self.dp.wait()


def check(name, fn):
    global PASSED, FAILED
    try:
        fn()
        PASSED += 1
        print("PASS %s" % name, flush=True)
    except Failure as e:
        FAILED += 1
        print("FAIL %s: %s" % (name, e), flush=True)


def test_dataplane_survives_and_forwards_across_client_restarts():
    work = tempfile.mkdtemp(prefix="yard-memif-")
    app = Appliance(work)
    t0 = time.monotonic()
    try:
        app.write_config()
        app.start_dataplane()
        for cycle in range(1, CYCLES + 1):
            if time.monotonic() - t0 > DEADLINE_S:
                raise Failure("only %d of %d cycles within %d s" % (cycle - 1, CYCLES,
                                                                     DEADLINE_S))
            before = app.forwarded()
            app.start_loadgen()

            def flowing():
                app.check_alive("while yard-loadgen (run %d) connected" % app.lg_runs)
                if app.lg.poll() is not None:
                    raise Failure("yard-loadgen exited with %d before it was stopped; its "
                                  "log:\n%s\nthe dataplane's log:\n%s" % (
                                      app.lg.returncode, tail(app.lg_log), tail(app.dp_log)))
                return app.forwarded() - before >= 20000
            try:
                wait_for("cycle %d: the dataplane to forward the new client's messages" % cycle,
                         flowing, 30)
            except Failure as e:
                if "timed out" not in str(e):
                    raise
                raise Failure("%s; yard-loadgen's log:\n%s\nthe dataplane's log:\n%s" % (
                    e, tail(app.lg_log), tail(app.dp_log)))
            sig = signal.SIGINT if cycle % 2 else signal.SIGKILL
            with Preempt(WORKER_CPU, 0.15):
                app.stop_loadgen(sig)
                time.sleep(0.05)  # the interrupt thread (CPU 0) tears the connection down
            time.sleep(0.2)  # the worker runs again: it faults now if it would
            app.check_alive("after yard-loadgen got %s (cycle %d of %d)" % (
                signal.Signals(sig).name, cycle, CYCLES))
        app.dp.send_signal(signal.SIGINT)
        try:
            rc = app.dp.wait(15)
        except subprocess.TimeoutExpired:
            raise Failure("yard-dataplane did not stop within 15 s of SIGINT")
        if rc != 0:
            raise Failure("yard-dataplane exited with %d at SIGINT; its log:\n%s" % (
                rc, tail(app.dp_log)))
        print("  %d client restarts in %.1f s" % (CYCLES, time.monotonic() - t0), flush=True)
    finally:
        app.stop_all()
        shutil.rmtree(work, ignore_errors=True)
        for side in ("dp", "lg"):  # EAL's runtime directories (telemetry socket)
            shutil.rmtree("/var/run/dpdk/" + app.instance + side, ignore_errors=True)
        try:
            os.unlink("/dev/shm/yard-" + app.instance)  # the dataplane leaves it for yardctl
        except OSError:
            pass


if os.geteuid() != 0:
    print("test_memif_reconnect: needs root for DPDK; skipped")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(77)

for name, fn in list(globals().items()):
    if name.startswith("test_") and callable(fn):
        check(name, fn)

print("%d passed, %d failed" % (PASSED, FAILED))
sys.exit(1 if FAILED else 0)
