"""harness.py - network namespaces, a running yard-dataplane, and applications.

The end-to-end tests set up what an operator would: an appliance whose ports
are veth interfaces, with a host (a network namespace with an ordinary
kernel IP stack) on the far end of each, and real UDP applications in those
hosts. The appliance itself runs in its own namespace, so nothing of a test
ever appears in the machine's root namespace, and deleting the namespaces
deletes every interface with them.

    appliance ns  "<tag>-dp": pa (198.18.0.1)   pb (198.18.1.1)  ...
                               |  veth            |  veth
    host ns       "<tag>-a":  eth0 198.18.0.2    "<tag>-b": eth0 198.18.1.2

A cluster of appliances adds a fabric: a Linux bridge in a namespace of its
own, joined by one more port of each appliance (Lab(fabric=...)), so the
appliances reach each other's data addresses as separate machines on one
segment would. Bridge and Netns also give gossip daemons and serf agents
addresses of their own (cluster tests).

Every name carries this run's pid (namespaces, DPDK --file-prefix, the
instance and so its /dev/shm segment), so runs never collide with each other
or with other DPDK processes on the machine, and a later run can tell the
leftovers of a killed run (dead pid) from a live one.

Clean-up is owed for everything created: each resource registers its own
undo, context managers run it on the way out (failures included), and an
atexit hook plus SIGTERM/SIGINT handlers run whatever is left. Children
get a parent-death signal, so even a SIGKILLed run leaves no process
behind, and the next run sweeps away the namespaces and files it left.

Synchronisation is by polling what the appliance and the kernel report
(`yardctl stats -o json`, sockets), never by sleeping for a guessed time;
the only fixed waits are "nothing must arrive within N seconds" windows.
"""
import atexit
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # Debian's python3-msgpack is only visible to it
UDP_APP = os.path.join(HERE, "udp_app.py")
TAG = "yde2e"  # every name this harness creates starts with it
RUN = "%s%d" % (TAG, os.getpid())
RUN_DIR = os.path.join("/tmp", RUN)  # configurations and logs of this run
DATA_PORT = 7400
PR_SET_PDEATHSIG = 1  # prctl(2)


class Failure(AssertionError):
    """A check a user would make did not hold; the message says which."""


def check(cond, what):
    if not cond:
        raise Failure(what)


# ---- clean-up registry ----

_undo = []  # (key, fn), run last-first


def _register(key, fn):
    _undo.append((key, fn))


def _release(key):
    """Run and forget the undo registered under key."""
    for i in range(len(_undo) - 1, -1, -1):
        if _undo[i][0] == key:
            fn = _undo.pop(i)[1]
            fn()
            return


def cleanup_all():
    while _undo:
        _, fn = _undo.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning the rest
            print("# cleanup: %s" % e, file=sys.stderr)


def _on_signal(sig, frame):
    # The clean-up that follows must not be cut short by a second signal
    # (meson sends SIGTERM, an impatient operator presses Ctrl-C twice).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(128 + sig)


atexit.register(cleanup_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


# ---- commands ----


def sh(args, ns=None, check_rc=True, timeout=30, input=None):
    """Run a command (inside namespace ns if given); return CompletedProcess."""
    if ns is not None:
        args = ["ip", "netns", "exec", ns] + list(args)
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)
    if check_rc and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                 (p.stderr or p.stdout).strip()))
    return p


def wait_for(cond, timeout, what, interval=0.02):
    """Poll cond() until it returns a true value; Failure naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent(sig):
    """preexec_fn: the child gets sig when this process dies, even by SIGKILL,
    so a killed test run leaves no dataplane holding hugepages behind."""
    libc = ctypes.CDLL(None, use_errno=True)

    def set_pdeathsig():
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    return set_pdeathsig


def sweep_stale():
    """Remove what killed earlier runs left behind (their pid is gone)."""
    pat = re.compile(r"^%s(\d+)(x|$)" % TAG)
    stale = []
    for line in sh(["ip", "netns", "list"]).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = pat.match(name)
        if m and not _pid_alive(int(m.group(1))):
            stale.append(name)
    # Processes still inside them (a dataplane or an application whose
    # parent was killed before it could stop them): stop those first, by pid.
    pids = []
    for ns in stale:
        out = sh(["ip", "netns", "pids", ns], check_rc=False).stdout
        pids += [int(p) for p in out.split() if p.isdigit()]
    for pid in pids:
        _signal(pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    for ns in stale:
        sh(["ip", "netns", "delete", ns], check_rc=False)
    for d, strip in (("/dev/shm", "yard-"), ("/var/run/dpdk", ""), ("/dev/hugepages", ""),
                     ("/tmp", "")):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            m = pat.match(n[len(strip):] if n.startswith(strip) else "")
            if m and not _pid_alive(int(m.group(1))):
                _remove(os.path.join(d, n))


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            for n in os.listdir(path):
                _remove(os.path.join(path, n))
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


# ---- applications in a namespace ----


class App:
    """udp_app.py serve, running inside a host namespace."""

    def __init__(self, ns):
        self.ns = ns
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, PYTHON, UDP_APP, "serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     preexec_fn=_die_with_parent(signal.SIGKILL))
        self.buf = b""
        self.key = ("app", ns, self.proc.pid)
        _register(self.key, self._kill)
        hello = self._read_line(10)
        check(hello.get("ready"), "udp_app in %s did not start: %r" % (ns, hello))

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("udp_app in %s did not answer within %.1f s" % (self.ns, timeout))
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise Failure("udp_app in %s exited: %s" % (self.ns, err.strip()[-2000:]))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, wait=10, **req):
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        ans = self._read_line(wait)
        if not ans.get("ok"):
            raise RuntimeError("udp_app in %s: %s: %s" % (self.ns, req.get("op"), ans.get("error")))
        return ans

    def _kill(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(2)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()

    def close(self):
        _release(self.key)


class Socket:
    """A UDP socket bound in a host, as a receiving application holds it."""

    def __init__(self, host, port, sniff, ip=None):
        self.host = host
        self.ip = ip or host.ip
        ans = host.app.request(op="listen", addr=[self.ip, port],
                               sniff=host.iface if sniff else None)
        self.id, self.port = ans["sock"], ans["port"]

    def recv(self, count, timeout=2.0, quiet=None):
        """Datagrams received: list of dicts with from (ip, port), payload bytes,
        and frame bytes (the raw Ethernet frame, when sniffing)."""
        ans = self.host.app.request(wait=timeout + 10, op="recv", sock=self.id, count=count,
                                    timeout=timeout, quiet=quiet)
        out = []
        for m in ans["messages"]:
            out.append({"from": tuple(m["from"]), "payload": bytes.fromhex(m["payload"]),
                        "frame": bytes.fromhex(m["frame"]) if m.get("frame") else None})
        return out

    def expect_nothing(self, seconds):
        got = self.recv(1, timeout=seconds)
        check(not got, "%s:%d received %d unexpected datagram(s), first %r" % (
            self.ip, self.port, len(got), got[0]["payload"][:64] if got else None))

    def send(self, to, payloads):
        payloads = [payloads] if isinstance(payloads, (bytes, bytearray)) else payloads
        self.host.app.request(op="send", sock=self.id, to=list(to),
                              payloads=[bytes(p).hex() for p in payloads])


class Host:
    """A network namespace on the far end of one appliance port."""

    def __init__(self, lab, letter, subnet):
        self.letter = letter
        self.ns = "%s-%s" % (lab.tag, letter)
        self.iface = "eth0"
        self.dp_iface = "p" + letter  # the appliance's end, in the appliance namespace
        self.subnet = subnet  # "198.18.N"
        self.ip = subnet + ".2"
        self.gw = subnet + ".1"  # the appliance's address on this port
        self.mac = None
        self.app = None

    def listen(self, port, sniff=False, ip=None):
        """A UDP socket on this host's address (or another of its addresses)."""
        return Socket(self, port, sniff, ip)

    def send(self, to, payloads, src_port=0):
        """Send datagrams from this host's address (a fresh source port per call
        unless src_port is given)."""
        payloads = [payloads] if isinstance(payloads, (bytes, bytearray)) else payloads
        return self.app.request(op="send", to=list(to), payloads=[bytes(p).hex() for p in payloads],
                                **({"from": [self.ip, src_port]} if src_port else {}))

    def send_raw_udp(self, to, payload, sport, checksum):
        self.app.request(op="send_raw_udp", to=list(to), payload=bytes(payload).hex(), sport=sport,
                         checksum=checksum)

    def start_stream(self, to, template, id_offset, rate, first_id=1):
        """Send `template` rate times a second from a background thread, with
        an increasing uint64 id written at id_offset; stop_stream() ends it."""
        self.app.request(op="stream_start", to=list(to), template=bytes(template).hex(),
                         id_offset=id_offset, rate=rate, first_id=first_id)

    def stop_stream(self):
        """Stop the stream; returns how many datagrams it sent."""
        return self.app.request(op="stream_stop")["sent"]

    def snmp(self):
        return self.app.request(op="snmp")

    def neigh(self, ip):
        """The kernel's neighbour entry for ip as `ip neigh` shows it: (mac, state)."""
        out = sh(["ip", "-n", self.ns, "neigh", "show", ip, "dev", self.iface]).stdout.split()
        mac = out[out.index("lladdr") + 1] if "lladdr" in out else None
        return mac, out[-1] if out else None

    def watch_arp(self):
        self.app.request(op="arp_watch", iface=self.iface)

    def arp_requests_for(self, ip):
        return self.app.request(op="arp_requests", iface=self.iface, target=ip)["count"]


_lab_seq = 0


class _Scoped:
    """A `with` block whose clean-up also runs if the runner is interrupted:
    subclasses set self.key and define _begin() and _end()."""

    def __enter__(self):
        _register(self.key, self._end)
        try:
            self._begin()
        except BaseException:
            _release(self.key)
            raise
        return self

    def __exit__(self, *exc):
        _release(self.key)


class Lab(_Scoped):
    """The appliance's namespace and one host namespace per port.

    hosts: letters; host i gets 198.18.i.0/24, the appliance 198.18.i.1 on
    its port i (DPDK device net_af_packet<i>), the host 198.18.i.2. With
    first_subnet f, host i gets 198.18.(f+i).0/24 instead (appliances of one
    cluster keep their hosts apart that way).

    fabric: a Bridge (started) that one more port of the appliance joins,
    after the hosts' ports, with address fabric_ip ("198.19.0.N/24"): the
    segment that appliances of a cluster share.
    """

    def __init__(self, hosts="ab", first_subnet=0, fabric=None, fabric_ip=None):
        global _lab_seq
        _lab_seq += 1
        self.seq = _lab_seq
        self.tag = "%sx%d" % (RUN, _lab_seq)
        self.dp_ns = self.tag + "-dp"
        self.hosts = [Host(self, h, "198.18.%d" % (first_subnet + i)) for i, h in enumerate(hosts)]
        for h in self.hosts:
            setattr(self, h.letter, h)
        self.fabric, self.fabric_ip = fabric, fabric_ip
        self.fabric_iface = "pfab"  # the appliance's end, in the appliance namespace
        self.key = ("lab", self.tag)

    def nb_ports(self):
        return len(self.hosts) + (1 if self.fabric is not None else 0)

    def _begin(self):
        self._setup()

    def _end(self):
        self._teardown()

    def _new_ns(self, ns):
        new_ns(ns)

    def _setup(self):
        self._new_ns(self.dp_ns)
        for h in self.hosts:
            self._new_ns(h.ns)
            # Created straight into the two namespaces: no name ever exists
            # in the root namespace, so none can collide there.
            sh(["ip", "link", "add", h.dp_iface, "netns", self.dp_ns, "type", "veth",
                "peer", "name", h.iface, "netns", h.ns])
            sh(["ip", "-n", self.dp_ns, "link", "set", h.dp_iface, "up"])
            sh(["ip", "-n", h.ns, "addr", "add", h.ip + "/24", "dev", h.iface])
            sh(["ip", "-n", h.ns, "link", "set", h.iface, "up"])
            # A veth hands af_packet a partial (offloaded) UDP checksum, which a
            # real wire never carries: have the kernel compute it in full. And
            # verify received checksums in software, so delivery proves them.
            sh(["ethtool", "-K", h.iface, "tx", "off", "rx", "off"], ns=h.ns)
            link = sh(["ip", "-n", h.ns, "-o", "link", "show", h.iface]).stdout
            h.mac = re.search(r"link/ether ([0-9a-f:]{17})", link).group(1)
            h.app = App(h.ns)
        if self.fabric is not None:
            self.fabric.attach(self.dp_ns, self.fabric_iface, "l%d" % self.seq)

    def _teardown(self):
        # Every step is attempted even if one fails: a namespace left
        # behind would outlive the run.
        for h in self.hosts:
            if h.app is not None:
                try:
                    h.app.close()
                except Exception as e:
                    print("# cleanup: %s: %s" % (h.ns, e), file=sys.stderr)
                h.app = None
        for ns in [h.ns for h in self.hosts] + [self.dp_ns]:
            sh(["ip", "netns", "delete", ns], check_rc=False)

    def vdevs(self):
        ifaces = [h.dp_iface for h in self.hosts]
        if self.fabric is not None:
            ifaces.append(self.fabric_iface)
        return ["--vdev=net_af_packet%d,iface=%s" % (i, f) for i, f in enumerate(ifaces)]


def new_ns(ns):
    """Create namespace ns with loopback up and IPv6 off."""
    sh(["ip", "netns", "add", ns])
    # No IPv6: its router and neighbour solicitations would be the only
    # other traffic on the wire, and the tests count frames.
    sh(["sh", "-c", "for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; "
        "[ ! -e $f ] || echo 1 > $f; done"], ns=ns)
    sh(["ip", "-n", ns, "link", "set", "lo", "up"])


def _ns_seq():
    global _lab_seq
    _lab_seq += 1
    return _lab_seq


class Netns(_Scoped):
    """A namespace of this run with only loopback (until something attaches
    it to a Bridge): where yard-control gossips, where serf agents run.
    Processes started in it must be stopped before it goes; deleting it
    deletes its interfaces."""

    def __init__(self, label):
        self.ns = "%sx%d-%s" % (RUN, _ns_seq(), label)
        self.key = ("netns", self.ns)

    def _begin(self):
        new_ns(self.ns)

    def _end(self):
        sh(["ip", "netns", "delete", self.ns], check_rc=False)


class Bridge(Netns):
    """A Linux bridge (br0, no STP, no forwarding delay) in a namespace of
    its own: one Ethernet segment that namespaces join with attach()."""

    def _begin(self):
        new_ns(self.ns)
        sh(["ip", "-n", self.ns, "link", "add", "br0", "type", "bridge", "stp_state", "0",
            "forward_delay", "0"])
        sh(["ip", "-n", self.ns, "link", "set", "br0", "up"])

    def attach(self, ns, iface, port_name, ip=None):
        """A veth from namespace ns (named iface there) to the bridge (port
        port_name there), both ends up; ip ("A.B.C.D/N") is given to iface
        for a kernel stack, none for an appliance port that DPDK drives."""
        sh(["ip", "link", "add", iface, "netns", ns, "type", "veth", "peer", "name", port_name,
            "netns", self.ns])
        sh(["ip", "-n", self.ns, "link", "set", port_name, "master", "br0", "up"])
        if ip is not None:
            sh(["ip", "-n", ns, "addr", "add", ip, "dev", iface])
        sh(["ip", "-n", ns, "link", "set", iface, "up"])


# ---- the appliance ----


class Route:
    def __init__(self, name, ipv4, udp_port, mac=None):
        self.name, self.ipv4, self.udp_port, self.mac = name, ipv4, udp_port, mac

    def yaml(self):
        s = "  - name: %s\n    ipv4: %s\n    udp_port: %d\n" % (self.name, self.ipv4, self.udp_port)
        if self.mac:
            s += "    mac: %s\n" % self.mac
        return s


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
_logs = []  # every dataplane log of this run, in start order


def sanitizer_reports(first=0):
    """Sanitizer findings in the logs of dataplanes started since log number
    `first` (a build with -Db_sanitize reports there and may keep running):
    (log path, first line of the report) pairs."""
    found = []
    for path in _logs[first:]:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if any(m in line for m in SANITIZER_MARKS):
                        found.append((path, line.strip()))
                        break
        except OSError:
            pass
    return found


def logs_started():
    return len(_logs)


class Dataplane(_Scoped):
    """yard-dataplane on the lab's ports, with a generated configuration.

    Passing `eal` replaces the default lcore option (-l 0,1); workers and
    tx_lcores go to the file as they are; arp is the file's arp: section and
    port_yaml more keys for some ports ({port index: {key: value}});
    memory_mb is the hugepage memory it may take (EAL -m).
    """

    def __init__(self, lab, build, routes, mode="rtc", workers=(1,), tx_lcores=(), eal=None,
                 arp=None, port_yaml=None, extra_yaml=None, memory_mb=256):
        self.lab, self.build = lab, build
        self.memory_mb = memory_mb  # hugepage memory (-m): several appliances share the machine
        self.routes = list(routes)
        self.mode, self.workers, self.tx_lcores = mode, list(workers), list(tx_lcores)
        self.eal_lcores = eal or ["-l", "0,1"]
        self.arp = arp or {}
        self.port_yaml = port_yaml or {}  # port index -> more keys for that port
        self.extra_yaml = extra_yaml or {}  # more top-level keys
        self.instance = lab.tag
        self.dir = os.path.join(RUN_DIR, lab.tag)
        self.config = os.path.join(self.dir, "yard.yaml")
        self.log = os.path.join(self.dir, "dataplane.log")
        if self.log not in _logs:
            _logs.append(self.log)
        self.proc = None
        self.key = ("dp", self.instance)

    # paths of the programs under test
    @staticmethod
    def binary(build):
        return os.path.join(build, "dataplane", "yard-dataplane")

    @staticmethod
    def yardctl_binary(build):
        return os.path.join(build, "control", "cli", "yardctl")

    def config_text(self):
        y = ["# generated by tests/e2e for instance %s" % self.instance,
             "instance: %s" % self.instance,
             "mode: %s" % self.mode,
             "workers: [%s]" % ", ".join(map(str, self.workers)),
             "tx_lcores: [%s]" % ", ".join(map(str, self.tx_lcores)),
             # Two cores on this machine: an idle worker must not spin.
             "idle: {backoff: true, spin_polls: 64, sleep_us: 200}",
             "mbufs: 16383"]
        for k, v in self.extra_yaml.items():
            y.append("%s: %s" % (k, v))
        y.append("ports:")
        for i, h in enumerate(self.lab.hosts):
            y.append("  - device: net_af_packet%d\n    ipv4: %s/24" % (i, h.gw))
            for k, v in self.port_yaml.get(i, {}).items():
                y.append("    %s: %s" % (k, v))
        if self.lab.fabric is not None:
            i = len(self.lab.hosts)
            y.append("  - device: net_af_packet%d\n    ipv4: %s" % (i, self.lab.fabric_ip))
            for k, v in self.port_yaml.get(i, {}).items():
                y.append("    %s: %s" % (k, v))
        if self.arp:
            y.append("arp:")
            for k, v in self.arp.items():
                y.append("  %s: %s" % (k, v))
        y.append("routes:" if self.routes else "routes: []")
        text = "\n".join(y) + "\n" + "".join(r.yaml() for r in self.routes)
        return text

    def write_config(self):
        tmp = self.config + ".new"
        with open(tmp, "w") as f:
            f.write(self.config_text())
        os.rename(tmp, self.config)  # the reload never sees half a file

    def command(self, app_args=()):
        return (["ip", "netns", "exec", self.lab.dp_ns, self.binary(self.build)] + self.eal_lcores
                + ["--no-pci", "--file-prefix", self.instance, "-m", str(self.memory_mb)]
                + self.lab.vdevs() + ["--", "-c", self.config] + list(app_args))

    def run_to_exit(self, config_text=None, app_args=(), timeout=60):
        """Run the dataplane in the foreground with this file (the generated one
        unless config_text is given), for runs that must end by themselves:
        refusals, --check-config. Returns (exit code, stdout + stderr)."""
        os.makedirs(self.dir, exist_ok=True)
        self.write_config()
        if config_text is not None:
            with open(self.config, "w") as f:
                f.write(config_text)
        _register(self.key, self._stop)
        try:
            p = sh(self.command(app_args), check_rc=False, timeout=timeout)
        finally:
            _release(self.key)
        return p.returncode, p.stdout + p.stderr

    def _begin(self):
        self.start()

    def _end(self):
        self._stop()

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.write_config()
        with open(self.log, "w") as logf:
            # `ip netns exec` execs the program: self.proc.pid is the dataplane.
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent(signal.SIGINT))
        self.wait_ready()

    def wait_ready(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise Failure("yard-dataplane exited with %d during start-up:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            s = self.stats(check_rc=False)
            if s is None or not s["dataplane"]["ready"] or not s["dataplane"]["alive"]:
                return None
            ports = s["ports"]
            if len(ports) != self.lab.nb_ports() or not all(p["link_up"] for p in ports):
                return None
            return s
        return wait_for(ready, timeout, "yard-dataplane %s to report ready" % self.instance)

    def log_tail(self, lines=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def yardctl(self, *args, check_rc=True):
        return sh([self.yardctl_binary(self.build), "-i", self.instance] + list(args),
                  check_rc=check_rc)

    def stats(self, check_rc=True):
        """`yardctl -i INSTANCE stats -o json`, parsed (None if it failed and
        check_rc is false)."""
        p = self.yardctl("stats", "-o", "json", check_rc=check_rc)
        if p.returncode != 0:
            return None
        return json.loads(p.stdout)

    def counters(self):
        """A flat view: totals, drop reasons (their names also listed under
        "drop_reasons"), and class_<n>_<routed|tx|dropped>."""
        s = self.stats()
        c = dict(s["totals"])
        c.update(s["drops"])
        c["drop_reasons"] = tuple(s["drops"])
        for cl in s["classes"]:
            for k in ("routed", "tx", "dropped"):
                c["class_%d_%s" % (cl["class"], k)] = cl[k]
        return c

    def wait_counter(self, name, value, timeout=5):
        """Poll until counter `name` reaches value; return the counters then."""
        last = {}

        def reached():
            last.update(self.counters())
            return last if last[name] >= value else None
        try:
            return wait_for(reached, timeout, "counter %s to reach %d" % (name, value))
        except Failure:
            raise Failure("counter %s is %d, expected %d within %.1f s" % (
                name, last.get(name, -1), value, timeout))

    def port_mac(self, index):
        return self.stats()["ports"][index]["mac"]

    def addr(self, host):
        """Where applications on `host` send envelopes: the appliance's port."""
        return (host.gw, DATA_PORT)

    def reload(self, routes):
        """Rewrite the file with new routes and send SIGHUP; wait for the log line."""
        before = self.log_text().count("reloaded")
        self.routes = list(routes)
        self.write_config()
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.log_text().count("reloaded") > before, 5,
                 "yard-dataplane to log the reload")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGINT, as an operator's Ctrl-C; returns the exit code."""
        _release(self.key)
        return self.proc.returncode

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # What a killed process could not remove itself: its shm segment,
        # DPDK runtime directory and hugepage files, all named after it.
        _remove("/dev/shm/yard-" + self.instance)
        _remove("/var/run/dpdk/" + self.instance)
        for n in os.listdir("/dev/hugepages") if os.path.isdir("/dev/hugepages") else []:
            if n.startswith(self.instance + "map_"):
                _remove(os.path.join("/dev/hugepages", n))
        _remove(self.config)
        _remove(self.config + ".new")
        # keep the log for a failing test's report; removed with the run dir


def run_plain(args, ns=None, timeout=60):
    """A one-shot command (e.g. yard-dataplane expected to refuse to start)."""
    return sh(args, ns=ns, check_rc=False, timeout=timeout)
