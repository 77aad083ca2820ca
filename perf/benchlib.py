"""benchlib.py - what the control-plane benchmarks share: the appliance on a
memif port with yard-loadgen on the other end, yard-control beside it, and
the measuring and reporting around them.

Why it is built this way: every benchmark starts its own processes with
names that carry its pid (DPDK --file-prefix, the shm instance, the memif
socket, the state directory), so it never meets another engineer's or a
test's processes, and it owes the clean-up of all of them: children get a
parent-death signal, and an atexit hook stops them and removes their shm
segment, DPDK runtime directory and hugepage files even when the script is
interrupted. The machine has two CPUs: the dataplane's worker runs on CPU 1,
the load generator's on CPU 0, and whatever must share a CPU with a poller
makes it back off (the dataplane's idle back-off, the load generator's
--idle-sleep-us) instead of spinning against it.

Only the standard library and python3-msgpack: run with /usr/bin/python3.
"""
import atexit
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import msgpack

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DP_MAC = "02:59:41:52:44:01"
LG_MAC = "02:59:41:52:44:02"
DP_IP = "198.18.0.1"
LG_IP = "198.18.0.2"
LG_PORT = 7500
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """Something the benchmark needs did not happen; the message says what."""


def say(*args):
    print("==>", *args, file=sys.stderr, flush=True)


# ---- processes ----

_procs = []  # (name, Popen, stop signal), stopped last-first
_paths = []  # files and directories to remove at the end


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(name, argv, log, stop_sig=signal.SIGINT, stdout=None):
    """Start argv with stderr (and stdout unless given) to log; stopped at exit."""
    logf = open(log, "a")
    logf.write("---- %s: %s\n" % (name, " ".join(argv)))
    logf.flush()
    p = subprocess.Popen(argv, stdout=stdout or logf, stderr=logf, stdin=subprocess.DEVNULL,
                         preexec_fn=_die_with_parent)
    logf.close()
    _procs.append((name, p, stop_sig))
    return p


def stop(p, timeout=10):
    """Stop one process started by spawn (its own stop signal, then SIGKILL)."""
    for i, (name, q, sig) in enumerate(_procs):
        if q is p:
            del _procs[i]
            break
    else:
        sig = signal.SIGINT
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def remove_later(path):
    _paths.append(path)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def cleanup():
    while _procs:
        stop(_procs[-1][1])
    while _paths:
        _remove(_paths.pop())


def _on_signal(sig, frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + sig)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def wait_for(cond, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise BenchError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- the management API ----


class Rpc:
    """A msgpack-RPC client on yard-control's unix socket (PROTOCOL.md section 2)."""

    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.msgid = 0

    def send(self, method, **params):
        """Send a request without waiting for its answer (pipelining); returns its msgid."""
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, [params]]))
        return self.msgid

    def receive(self):
        """The next response's result (raises on an error response)."""
        while True:
            for resp in self.unpacker:
                if resp[2] is not None:
                    raise BenchError("yard-control answered msgid %s with %r" % (resp[1], resp[2]))
                return resp[3]
            data = self.sock.recv(1 << 20)
            if not data:
                raise BenchError("yard-control closed the API connection")
            self.unpacker.feed(data)

    def call(self, method, **params):
        self.send(method, **params)
        return self.receive()

    def close(self):
        self.sock.close()


# ---- the machine ----


def machine():
    """What the results must say about where they were measured."""
    model, cores = "?", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else model
    except OSError:
        pass
    dpdk = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True,
                          text=True).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": "%s, %d cores" % (model, cores),
        "kernel": platform.release(),
        "dpdk": dpdk or "?",
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
        "memory": "%.0f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
    }


def machine_table(m, extra=()):
    rows = [("date", m["date"]), ("CPU", m["cpu"]), ("memory", m["memory"]),
            ("kernel", m["kernel"]), ("DPDK", m["dpdk"]), ("load average at start", m["load"])]
    rows += list(extra)
    return "| | |\n|---|---|\n" + "".join("| %s | %s |\n" % r for r in rows)


def cpu_seconds(pid, tid=None):
    """User + system CPU time of a process (or one of its threads), in seconds."""
    path = "/proc/%d/task/%d/stat" % (pid, tid) if tid else "/proc/%d/stat" % pid
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_delay_s(pid):
    """Seconds the process's main thread spent runnable but waiting for a CPU
    (/proc/<pid>/schedstat, second field)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[1]) / 1e9


def threads(pid):
    """{tid: thread name} of a process."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hugepages_free():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("HugePages_Free:"):
                return int(line.split()[1])
    return 0


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---- the appliance ----


class Appliance:
    """yard-dataplane on a memif port (server) for yard-loadgen (client), and
    yard-control for it, all named after tag (unique per benchmark run)."""

    def __init__(self, build, tag, workdir, capacity=65536, backoff=True, sleep_us=50,
                 mem_mb=256, mbufs=16383, routes_yaml="", control_yaml=None, extra_yaml=""):
        self.build, self.tag, self.workdir = build, tag, workdir
        self.instance = tag
        self.dp_prefix = tag + "dp"
        self.lg_prefix = tag + "lg"
        self.memif_sock = os.path.join(workdir, "memif.sock")
        self.config = os.path.join(workdir, "yard.yaml")
        self.state_dir = os.path.join(workdir, "state")
        self.api_sock = os.path.join(workdir, "control.sock")
        self.metrics_port = free_tcp_port()
        self.dp_log = os.path.join(workdir, "dataplane.log")
        self.ctl_log = os.path.join(workdir, "control.log")
        self.capacity, self.backoff, self.sleep_us = capacity, backoff, sleep_us
        self.mem_mb, self.mbufs = mem_mb, mbufs
        self.routes_yaml, self.extra_yaml = routes_yaml, extra_yaml
        self.control_yaml = control_yaml or {}
        self.dp = self.ctl = None
        os.makedirs(workdir, exist_ok=True)
        for p in ("/dev/shm/yard-" + self.instance, "/var/run/dpdk/" + self.dp_prefix,
                  "/var/run/dpdk/" + self.lg_prefix):
            remove_later(p)
        atexit.register(self._hugepage_files)
        self.write_config()

    def _hugepage_files(self):
        for n in os.listdir("/dev/hugepages") if os.path.isdir("/dev/hugepages") else []:
            if n.startswith(self.dp_prefix + "map_") or n.startswith(self.lg_prefix + "map_"):
                _remove(os.path.join("/dev/hugepages", n))

    def write_config(self):
        ctl = {"state_dir": self.state_dir, "socket": self.api_sock,
               "metrics_listen": '"127.0.0.1:%d"' % self.metrics_port}
        ctl.update(self.control_yaml)
        text = ("# generated by perf/benchlib.py\n"
                "instance: %s\nmode: rtc\nburst: 32\nmbufs: %d\nmbuf_cache: 256\n"
                "class_queue_size: 4096\n"
                "idle: {backoff: %s, spin_polls: 512, sleep_us: %d}\n"
                "workers: [1]\ntx_lcores: []\n"
                "directory_capacity: %d\npunt_rate_per_source: 0\n%s"
                "control:\n%s"
                "ports:\n  - device: net_memif0\n    ipv4: %s/24\n    rx_desc: 2048\n"
                "    tx_desc: 2048\n"
                "routes:\n  - name: bench.echo\n    ipv4: %s\n    udp_port: %d\n    mac: %s\n%s"
                % (self.instance, self.mbufs, "true" if self.backoff else "false", self.sleep_us,
                   self.capacity, self.extra_yaml,
                   "".join("  %s: %s\n" % kv for kv in ctl.items()), DP_IP, LG_IP, LG_PORT,
                   LG_MAC, self.routes_yaml))
        with open(self.config, "w") as f:
            f.write(text)

    # programs
    def exe(self, rel):
        return os.path.join(self.build, rel)

    def start_dataplane(self, timeout=120):
        _remove(self.memif_sock)
        argv = [self.exe("dataplane/yard-dataplane"), "-l", "0,1", "--main-lcore", "0",
                "--no-pci", "--file-prefix", self.dp_prefix, "-m", str(self.mem_mb),
                "--vdev", "net_memif0,role=server,socket=%s,mac=%s" % (self.memif_sock, DP_MAC),
                "--", "-c", self.config]
        self.dp = spawn("yard-dataplane", argv, self.dp_log)

        def ready():
            if self.dp.poll() is not None:
                raise BenchError("yard-dataplane exited with %d; see %s:\n%s" % (
                    self.dp.returncode, self.dp_log, tail(self.dp_log)))
            s = self.stats(check=False)
            return s if s and s["dataplane"]["alive"] and s["dataplane"]["ready"] else None
        return wait_for(ready, timeout, "yard-dataplane to report ready")

    def kill_dataplane(self, sig=signal.SIGKILL):
        self.dp.send_signal(sig)
        self.dp.wait()
        stop(self.dp)

    def start_control(self, timeout=120, wait_synced=True):
        argv = [self.exe("control/yard-control"), "-c", self.config, "--node", "bench"]
        self.ctl_started = time.monotonic()
        self.ctl = spawn("yard-control", argv, self.ctl_log, stop_sig=signal.SIGTERM)

        def serving():
            if self.ctl.poll() is not None:
                raise BenchError("yard-control exited with %d; see %s:\n%s" % (
                    self.ctl.returncode, self.ctl_log, tail(self.ctl_log)))
            try:
                return self.call("status.get")
            except (OSError, BenchError):
                return None
        st = wait_for(serving, timeout, "yard-control to serve its socket", interval=0.005)
        if wait_synced:
            st = self.wait_synced(timeout)
        return st

    def wait_synced(self, timeout=60, interval=0.005):
        return wait_for(lambda: (lambda s: s if s["synced"] else None)(self.call("status.get")),
                        timeout, "yard-control to report synced", interval=interval)

    def call(self, method, **params):
        c = Rpc(self.api_sock)
        try:
            return c.call(method, **params)
        finally:
            c.close()

    def stats(self, check=True):
        """`yardctl stats -o json` of the instance (None on failure unless check)."""
        p = subprocess.run([self.exe("control/cli/yardctl"), "-i", self.instance, "stats", "-o",
                            "json"], capture_output=True, text=True)
        if p.returncode != 0:
            if check:
                raise BenchError("yardctl stats: %s" % p.stderr.strip())
            return None
        return json.loads(p.stdout)

    def metrics(self):
        """yard-control's /metrics as {name: value} (unlabelled series only)."""
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or "{" in line:
                continue
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = float(parts[1])
                except ValueError:
                    pass
        return out

    def loadgen_argv(self, opts, lcores="0@1,1@0", mem_mb=256):
        return ([self.exe("perf/yard-loadgen"), "--lcores", lcores, "--main-lcore", "0",
                 "--no-pci", "--file-prefix", self.lg_prefix, "-m", str(mem_mb), "--vdev",
                 "net_memif0,role=client,socket=%s,mac=%s" % (self.memif_sock, LG_MAC), "--",
                 "--router-mac", DP_MAC, "--src-ip", LG_IP, "--src-port", str(LG_PORT),
                 "--json"] + [str(o) for o in opts])

    def start_loadgen(self, opts, log, tries=3, **kw):
        """yard-loadgen in the background, once its port is up; finish with
        loadgen_result(). A memif client that finds the server's socket not
        listening yet (the previous client has just left) fails at once:
        that is retried."""
        for attempt in range(1, tries + 1):
            out = open(log + ".json", "w")
            p = spawn("yard-loadgen", self.loadgen_argv(opts, **kw), log, stdout=out)
            out.close()
            p.json_path = log + ".json"
            p.log_path = log

            def up():
                if p.poll() is not None:
                    return "exited"
                with open(log, errors="replace") as f:
                    return "up" if "frames prebuilt" in f.read() else None
            state = wait_for(up, 60, "yard-loadgen's port to come up", interval=0.01)
            if state == "up":
                return p
            stop(p)
            if attempt < tries:
                say("yard-loadgen could not start its port (try %d of %d); again in 1 s" % (
                    attempt, tries))
                time.sleep(1)
        raise BenchError("yard-loadgen failed to start %d times; see %s:\n%s" % (
            tries, log, tail(log)))

    def loadgen_result(self, p, timeout=600):
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(p)
            raise BenchError("yard-loadgen did not finish in %d s; see %s" % (timeout, p.log_path))
        stop(p)
        text = open(p.json_path).read().strip()
        if p.returncode != 0 or not text:
            raise BenchError("yard-loadgen failed (exit %s); see %s:\n%s" % (
                p.returncode, p.log_path, tail(p.log_path)))
        return json.loads(text.splitlines()[-1])

    def run_loadgen(self, opts, log, **kw):
        return self.loadgen_result(self.start_loadgen(opts, log, **kw))

    def stop_all(self):
        if self.ctl is not None:
            stop(self.ctl)
            self.ctl = None
        if self.dp is not None:
            stop(self.dp)
            self.dp = None
        self._hugepage_files()


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def need_root(what):
    if os.geteuid() != 0:
        sys.exit("%s: needs root (hugepages, DPDK)" % what)


def check_build(build, programs):
    missing = [p for p in programs if not os.access(os.path.join(build, p), os.X_OK)]
    if missing:
        raise BenchError("missing in %s: %s; build them: ninja -C %s %s" % (
            build, ", ".join(missing), build, " ".join(missing)))


def lcore_totals(stats):
    """Sum of the dataplane's per-lcore totals from `yardctl stats -o json`."""
    return stats["totals"]


# ---- the machine's other load ----


def _cpu_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def _ticks_of(pids):
    total = 0
    for pid in pids:
        try:
            total += cpu_seconds(pid) * CLK_TCK
        except (OSError, IndexError):
            pass
    return total


class CpuWatch:
    """How much of the machine's CPU time went to programs other than ours
    (pids) between start() and stop(), in percent of all CPUs. Our processes
    must still run at stop(): an exited one's times cannot be read."""

    def __init__(self, pids):
        self.pids = [p for p in pids if p]

    def start(self):
        self.t0, self.busy0, self.ours0 = time.monotonic(), _cpu_busy_ticks(), _ticks_of(self.pids)
        return self

    def stop(self):
        dt = time.monotonic() - self.t0
        others = (_cpu_busy_ticks() - self.busy0) - (_ticks_of(self.pids) - self.ours0)
        return max(0.0, 100.0 * others / (dt * CLK_TCK * os.cpu_count()))


def wait_quiet(max_wait_s=60, pct=15, ours=()):
    """Wait (up to max_wait_s) until programs other than ours use under pct %
    of the CPUs over half a second; returns that share when the wait ended."""
    deadline = time.monotonic() + max_wait_s
    while True:
        w = CpuWatch(ours).start()
        time.sleep(0.5)
        busy = w.stop()
        if busy < pct or time.monotonic() > deadline:
            return busy
