"""control.py - yard-control in the end-to-end tests, and an independent
management client.

Control runs yard-control on the same configuration file as the lab's
dataplane, with its own state directory, socket and metrics port. Rpc speaks
MessagePack-RPC to the socket with python3-msgpack alone (PROTOCOL.md §2):
no code of the appliance's is involved, so the API is tested as any
language's client would use it.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import msgpack

import harness
from envelope import Envelope
from harness import Failure, _register, _release, _remove, _Scoped, check, wait_for

KIND_REGISTER, KIND_UNREGISTER, KIND_SUBSCRIBE, KIND_UNSUBSCRIBE = 1, 2, 3, 4
KIND_ACK, KIND_NACK = 5, 6


class RpcError(Exception):
    def __init__(self, method, code, message):
        super().__init__("%s: %s (code %s)" % (method, message, code))
        self.method, self.code, self.message = method, code, message


class Rpc:
    """A msgpack-RPC client over a unix socket."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.msgid = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_response(self):
        """The next object the server sends."""
        for obj in self.unpacker:
            return obj
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("yard-control closed the connection")
            self.unpacker.feed(data)
            for obj in self.unpacker:
                return obj

    def call(self, method, **params):
        self.msgid += 1
        self.send_raw(msgpack.packb([0, self.msgid, method, [params]]))
        resp = self.read_response()
        check(isinstance(resp, list) and len(resp) == 4 and resp[0] == 1,
              "%s: not a msgpack-rpc response: %r" % (method, resp))
        check(resp[1] == self.msgid, "%s: response for msgid %r, sent %d" % (
            method, resp[1], self.msgid))
        if resp[2] is not None:
            err = resp[2]
            check(isinstance(err, dict) and set(err) >= {"code", "message"},
                  "%s: error is not a {code, message} map: %r" % (method, err))
            raise RpcError(method, err["code"], err["message"])
        return resp[3]

    def close(self):
        self.sock.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Control(_Scoped):
    """yard-control for the lab's dataplane instance (dp: a harness.Dataplane,
    started or not).

    netns: run it inside that network namespace (a cluster node gossips from
    there; its management socket is a file, so yardctl and Rpc work from
    anywhere, and http() fetches from inside the namespace). node: the
    member name (--node; default node-<instance>)."""

    def __init__(self, dp, build, metrics_port=None, extra_args=(), netns=None, node=None):
        self.dp, self.build = dp, build
        self.netns = netns
        self.node = node or "node-" + dp.instance
        self.instance = dp.instance
        self.dir = dp.dir
        self.state_dir = os.path.join(self.dir, "state")
        self.socket = os.path.join(self.dir, "control.sock")
        self.metrics_port = metrics_port or free_port()
        self.extra_args = list(extra_args)
        self.log = os.path.join(self.dir, "control.log")
        if self.log not in harness._logs:
            harness._logs.append(self.log)
        self.proc = None
        self.key = ("control", self.instance)
        self.starts = 0

    @staticmethod
    def binary(build):
        return os.path.join(build, "control", "yard-control")

    def command(self):
        # `ip netns exec` execs the program: self.proc.pid is yard-control.
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return prefix + [self.binary(self.build), "-c", self.dp.config, "--state-dir",
                         self.state_dir, "--socket", self.socket, "--metrics",
                         "127.0.0.1:%d" % self.metrics_port, "--node", self.node] + self.extra_args

    def _begin(self):
        self.start()

    def _end(self):
        self._stop()
        _remove(self.state_dir)

    def start(self, wait=True):
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.exists(self.dp.config):
            self.dp.write_config()
        self.starts += 1
        with open(self.log, "a") as logf:
            logf.write("---- start %d\n" % self.starts)
            logf.flush()
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=harness._die_with_parent(signal.SIGTERM))
        _register(self.key, self._stop)
        if wait:
            self.wait_serving()

    def wait_serving(self, timeout=20):
        def serving():
            if self.proc.poll() is not None:
                raise Failure("yard-control exited with %d during start-up:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                return self.call("status.get")
            except (OSError, ConnectionError):
                return None
        return wait_for(serving, timeout, "yard-control %s to serve its socket" % self.instance)

    def call(self, method, **params):
        c = Rpc(self.socket)
        try:
            return c.call(method, **params)
        finally:
            c.close()

    def status(self):
        return self.call("status.get")

    def wait_synced(self, timeout=20):
        return wait_for(lambda: (lambda s: s if s["synced"] else None)(self.status()), timeout,
                        "yard-control %s to sync the dataplane" % self.instance)

    def wait_applied(self, seq, timeout_ms=5000):
        return self.call("wait.applied", seq=seq, timeout_ms=timeout_ms)

    def http(self, path, timeout=5):
        """(status, body) of GET path on the metrics port."""
        if self.netns:
            return _http_in_netns(self.netns, self.metrics_port, path, timeout)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.metrics_port, path),
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        """/metrics as {series: value}, the series written as exposed
        (name, or name{labels})."""
        status, body = self.http("/metrics")
        check(status == 200, "/metrics of %s answered %d" % (self.node, status))
        return parse_metrics(body)

    def members(self):
        """members.list: {name: member map}."""
        return {m["name"]: m for m in self.call("members.list")}

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

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
        return harness.sh([harness.Dataplane.yardctl_binary(self.build), "-s", self.socket,
                           "-i", self.instance] + list(args), check_rc=check_rc)

    def _stop(self):
        _release(self.key)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _remove(self.socket)


_FETCH = """
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
sys.stdout.write("%d\\n" % status)
sys.stdout.flush()
sys.stdout.buffer.write(body)
"""


def _http_in_netns(ns, port, path, timeout):
    """GET http://127.0.0.1:port/path from inside namespace ns."""
    p = harness.sh(["ip", "netns", "exec", ns, harness.PYTHON, "-c", _FETCH,
                    "http://127.0.0.1:%d%s" % (port, path), str(timeout)], timeout=timeout + 10)
    status, body = p.stdout.split("\n", 1)
    return int(status), body


def parse_metrics(text):
    """Prometheus text exposition -> {series: float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        out[series] = float(value)
    return out


def control_request(sock, dp, host, kind, name, topic=None, id=1, lease_ms=None, timeout=3.0):
    """Send one REGISTER/UNREGISTER/SUBSCRIBE/UNSUBSCRIBE from `sock` (a
    harness.Socket) and return the decoded reply envelope as a dict (None if
    nothing came back). For (UN)SUBSCRIBE, name is the subscriber and topic
    the topic."""
    body = msgpack.packb({"lease_ms": lease_ms}) if lease_ms else b""
    dst = topic if topic is not None else name
    sock.send(dp.addr(host), Envelope(dst, name, kind=kind, id=id, body=body, ttl=8).encode())
    got = sock.recv(1, timeout=timeout)
    if not got:
        return None
    return decode_reply(got[0]["payload"])


def decode_reply(payload):
    env = msgpack.unpackb(payload, raw=False)
    check(isinstance(env, list) and len(env) == 8, "reply is not an 8-element envelope: %r" % env)
    ver, kind, dst, src, prio, ttl, id_, body = env
    out = {"ver": ver, "kind": kind, "dst": dst, "src": src, "prio": prio, "ttl": ttl, "id": id_,
           "body": body}
    if kind == KIND_ACK:
        out["ack"] = msgpack.unpackb(body, raw=False) if body else {}
    elif kind == KIND_NACK:
        out["reason"] = bytes(body).decode()
    return out


def until(deadline_s):
    return time.monotonic() + deadline_s


class ConfigOnly:
    """A configuration file and instance for a yard-control that runs without
    a dataplane (what Control needs of a harness.Dataplane)."""

    def __init__(self, tag, routes=(), extra_yaml=None):
        self.instance = tag
        self.dir = os.path.join(harness.RUN_DIR, tag)
        self.config = os.path.join(self.dir, "yard.yaml")
        self.routes = list(routes)
        self.extra_yaml = extra_yaml or {}  # more top-level keys, as Dataplane's

    def write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        text = ("instance: %s\nports:\n  - device: net_null0\n    ipv4: 198.18.200.1/24\n"
                % self.instance)
        text += "routes:\n" + "".join(r.yaml() for r in self.routes) if self.routes else \
            "routes: []\n"
        text += "".join("%s: %s\n" % (k, v) for k, v in self.extra_yaml.items())
        with open(self.config, "w") as f:
            f.write(text)
