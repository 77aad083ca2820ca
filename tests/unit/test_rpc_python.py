#!/usr/bin/python3
"""test_rpc_python.py - the management API's server judged by an independent
client: Python's msgpack (python3-msgpack) speaking msgpack-rpc over the unix
socket to rpc_echo_server, which is the real rpc_server on the real event
loop with the test methods of rpc_test_methods.c.

Responses are compared byte for byte with what Python's msgpack packs for the
expected message, so the framing (array of 4, type 1, msgid echoed, nil
error or an error map with exactly "code" and "message") is checked as a
client in another language sees it.

usage: test_rpc_python.py RPC_ECHO_SERVER
"""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import msgpack

SERVER = sys.argv[1]
PASSED, FAILED = 0, 0

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
INTERNAL, CONFLICT, NO_SPACE = -32603, 2, 5


def check(name, fn):
    global PASSED, FAILED
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported and counted
        FAILED += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        return
    PASSED += 1
    print("ok   %s" % name)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


class Server:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="yard-rpc-py-")
        self.path = os.path.join(self.dir, "sub", "api.sock")
        self.proc = subprocess.Popen([SERVER, self.path, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError("rpc_echo_server did not start: %r %s" %
                               (line, self.proc.stderr.read()))

    def stop(self):
        """SIGTERM; returns (exit code, the counters it printed)."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=10)
        counters = dict((k, int(v)) for k, v in (l.split() for l in out.splitlines()))
        return self.proc.returncode, counters, err

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.raw = bytearray()

    def send(self, data):
        self.s.sendall(data)

    def request(self, msgid, method, params):
        self.send(msgpack.packb([0, msgid, method, params]))

    def read_one(self):
        """The next message's exact bytes, or None at end of stream."""
        while True:
            if self.raw:
                u = msgpack.Unpacker(raw=False, strict_map_key=False)
                u.feed(bytes(self.raw))
                try:
                    obj = u.unpack()
                    n = u.tell()
                    data = bytes(self.raw[:n])
                    del self.raw[:n]
                    return data, obj
                except msgpack.OutOfData:
                    pass
            try:
                chunk = self.s.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.raw += chunk

    def close(self):
        self.s.close()


def expect_exact(conn, want, what):
    got = conn.read_one()
    expect(got is not None, "%s: connection closed, wanted %r" % (what, want))
    data, obj = got
    expect(data == msgpack.packb(want), "%s: got %r (%s), want %r" % (what, obj, data.hex(), want))


def expect_error(conn, msgid, code, what, closes=False):
    got = conn.read_one()
    expect(got is not None, "%s: connection closed before the answer" % what)
    data, obj = got
    expect(isinstance(obj, list) and len(obj) == 4, "%s: not an array of 4: %r" % (what, obj))
    expect(data[0] == 0x94 and data[1] == 0x01, "%s: header bytes %s" % (what, data[:2].hex()))
    expect(obj[0] == 1 and obj[1] == msgid and obj[3] is None, "%s: %r" % (what, obj))
    err = obj[2]
    expect(isinstance(err, dict) and set(err) == {"code", "message"},
           "%s: error map %r" % (what, err))
    expect(err["code"] == code and isinstance(err["message"], str) and err["message"],
           "%s: code %r want %d (%r)" % (what, err["code"], code, err["message"]))
    if closes:
        expect(conn.read_one() is None, "%s: the server should close the connection" % what)
    return err["message"]


# ---------------------------------------------------------------- tests

def test_basic_exchange(srv):
    st = os.stat(srv.path)
    expect(stat.S_ISSOCK(st.st_mode), "a socket")
    expect(stat.S_IMODE(st.st_mode) == 0o640, "mode %o, want 640" % stat.S_IMODE(st.st_mode))
    expect(stat.S_IMODE(os.stat(os.path.dirname(srv.path)).st_mode) == 0o755, "dir 0755")
    c = Conn(srv.path)
    args = {"name": "svc.orders", "port": 9000, "neg": -3, "f": 1.5, "ok": True, "none": None,
            "list": [1, "two", [3]], "bin": b"\x00\xff", "long": "x" * 300}
    c.request(1, "echo", [args])
    expect_exact(c, [1, 1, None, args], "echo")
    # the largest msgid, and msgids that need each integer width
    for msgid in (0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1):
        c.request(msgid, "echo", [{"id": msgid}])
        expect_exact(c, [1, msgid, None, {"id": msgid}], "msgid %d" % msgid)
    # no arguments, [] or [{}], and a bare map
    c.request(2, "echo", [])
    expect_exact(c, [1, 2, None, {}], "params []")
    c.request(3, "echo", [{}])
    expect_exact(c, [1, 3, None, {}], "params [{}]")
    c.request(4, "echo", {"bare": 1})
    expect_exact(c, [1, 4, None, {"bare": 1}], "bare map params")
    c.request(5, "params", [{"k": "v"}])
    expect_exact(c, [1, 5, None, [{"k": "v"}]], "params as received")
    c.close()


def test_errors(srv):
    c = Conn(srv.path)
    c.request(10, "error", [{"code": CONFLICT, "message": "svc.a exists"}])
    expect_exact(c, [1, 10, {"code": CONFLICT, "message": "svc.a exists"}, None], "error reply")
    c.request(11, "nope.nothing", [])
    msg = expect_error(c, 11, METHOD_NOT_FOUND, "unknown method")
    expect("nope.nothing" in msg, msg)
    c.request(12, "strict", [{"name": "a", "cuont": 1}])
    msg = expect_error(c, 12, INVALID_PARAMS, "misspelt argument")
    expect("cuont" in msg, msg)
    c.request(13, "strict", [{"name": "abc", "count": 7}])
    expect_exact(c, [1, 13, None, {"name": "abc", "count": 7, "count_given": True}], "strict ok")
    c.request(14, "noreply", [])
    expect_error(c, 14, INTERNAL, "handler that does not answer")
    c.request(15, "echo", [{"still": "here"}])
    expect_exact(c, [1, 15, None, {"still": "here"}], "after errors")
    c.close()


def nested(depth):
    v = 1
    for _ in range(depth):
        v = [v]
    return v


def test_malformed_keeps_connection(srv):
    c = Conn(srv.path)
    cases = [
        (msgpack.packb("hello"), None, INVALID_REQUEST),
        (msgpack.packb({"method": "echo"}), None, INVALID_REQUEST),
        (msgpack.packb([]), None, INVALID_REQUEST),
        (msgpack.packb([0, 21, "echo"]), 21, INVALID_REQUEST),
        (msgpack.packb([0, 22, "echo", [], "extra"]), 22, INVALID_REQUEST),
        (msgpack.packb([0, "23", "echo", []]), None, INVALID_REQUEST),
        (msgpack.packb([0, -1, "echo", []]), None, INVALID_REQUEST),
        (msgpack.packb([0, 2**32, "echo", []]), None, INVALID_REQUEST),
        (msgpack.packb([0, 24, 42, []]), 24, INVALID_REQUEST),
        (msgpack.packb([0, 25, "echo", "params"]), 25, INVALID_REQUEST),
        (msgpack.packb([0, 26, "echo", [1, 2]]), 26, INVALID_PARAMS),
        (msgpack.packb([0, 27, "echo", ["x"]]), 27, INVALID_PARAMS),
        (msgpack.packb([1, 28, None, None]), 28, INVALID_REQUEST),
        (msgpack.packb([3, 29, "echo", []]), 29, INVALID_REQUEST),
        (msgpack.packb([0, 30, "echo", [nested(33)]]), 30, INVALID_REQUEST),
        (msgpack.packb([0, 31, b"echo", []]), 31, None),  # a bin method name is accepted
    ]
    for data, msgid, code in cases:
        c.send(data)
        if code is None:
            expect_exact(c, [1, msgid, None, {}], "bin method")
        else:
            expect_error(c, msgid, code, "malformed %s" % data[:12].hex())
    # a notification gets no answer: the next answer is the request's
    c.send(msgpack.packb([2, "echo", [{"n": 1}]]))
    c.request(40, "echo", [{"after": "notify"}])
    expect_exact(c, [1, 40, None, {"after": "notify"}], "after a notification")
    c.close()


def test_garbage_closes_connection(srv):
    for data, msgid, code, what in [
            (b"\xc1\x00", None, PARSE_ERROR, "0xc1"),
            (b"\x94\x00\x05\xc1", None, PARSE_ERROR, "0xc1 inside"),
            (b"\xdd\xff\xff\xff\xff", None, INVALID_REQUEST, "array of 2^32-1"),
            (b"\x94\x00\x06\xdb\xff\xff\xff\xff", 6, INVALID_REQUEST, "str of 4 GiB"),
            (b"\x94\x00\x07\xa4echo\x91\xdf\x00\x80\x00\x00", 7, INVALID_REQUEST, "map of 8M")]:
        c = Conn(srv.path)
        c.send(data)
        expect_error(c, msgid, code, what, closes=True)
        c.close()
    # HTTP spoken at the socket: each byte is a valid msgpack integer, so
    # each gets an answer, and nothing breaks
    c = Conn(srv.path)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    for _ in range(len(b"GET / HTTP/1.0\r\n\r\n")):
        expect_error(c, None, INVALID_REQUEST, "http byte")
    c.request(50, "echo", [])
    expect_exact(c, [1, 50, None, {}], "after http")
    c.close()


def test_split_and_pipelined(srv):
    c = Conn(srv.path)
    reqs = b"".join(msgpack.packb([0, i, "echo", [{"i": i, "pad": "p" * (i % 40)}]])
                    for i in range(60))
    c.send(reqs)
    for i in range(60):
        expect_exact(c, [1, i, None, {"i": i, "pad": "p" * (i % 40)}], "pipelined %d" % i)
    one = msgpack.packb([0, 99, "echo", [{"split": "byte by byte"}]])
    for b in one:
        c.send(bytes([b]))
        time.sleep(0.001)
    expect_exact(c, [1, 99, None, {"split": "byte by byte"}], "split request")
    c.close()


def test_deferred_out_of_order(srv):
    c = Conn(srv.path)
    c.request(1, "defer", [{"ms": 200, "value": "slow"}])
    c.request(2, "defer", [{"ms": 50, "value": "fast"}])
    c.request(3, "echo", [{"now": True}])
    expect_exact(c, [1, 3, None, {"now": True}], "immediate first")
    expect_exact(c, [1, 2, None, {"value": "fast"}], "50 ms next")
    expect_exact(c, [1, 1, None, {"value": "slow"}], "200 ms last")
    # hang up with a call kept: the server must survive answering nobody
    c.request(4, "defer", [{"ms": 100}])
    time.sleep(0.05)
    c.close()
    time.sleep(0.2)
    d = Conn(srv.path)
    d.request(5, "stats", [])
    data, st = d.read_one()
    expect(st[3]["deferred_abandoned"] == 1 and st[3]["abandoned"] == 1, st[3])
    expect(st[3]["deferred_pending"] == 0, st[3])
    d.close()


def test_large_result(srv):
    c = Conn(srv.path)
    n = 3 << 20
    c.request(7, "big", [{"bytes": n}])
    time.sleep(0.2)  # the answer waits in the server while we do not read
    data, obj = c.read_one()
    expect(obj[:3] == [1, 7, None] and len(obj[3]) == n, "big: %r" % obj[:3])
    expect(obj[3] == bytes(i & 0xff for i in range(n)), "big: content")
    c.close()


def test_connection_limit(srv):
    held = [Conn(srv.path) for _ in range(4)]
    for i, h in enumerate(held):
        h.request(i, "echo", [])
        expect_exact(h, [1, i, None, {}], "held %d" % i)
    extra = Conn(srv.path)
    msg = expect_error(extra, None, NO_SPACE, "fifth connection", closes=True)
    expect("at most 4 connections" in msg, msg)
    extra.close()
    held[0].close()
    time.sleep(0.1)
    again = Conn(srv.path)
    again.request(8, "echo", [])
    expect_exact(again, [1, 8, None, {}], "room again after one left")
    again.close()
    for h in held[1:]:
        h.close()


def main():
    srv = Server("--mode", "0640", "--max-connections", "4")
    try:
        for name, fn in [("basic_exchange", test_basic_exchange), ("errors", test_errors),
                         ("malformed_keeps_connection", test_malformed_keeps_connection),
                         ("garbage_closes_connection", test_garbage_closes_connection),
                         ("split_and_pipelined", test_split_and_pipelined),
                         ("deferred_out_of_order", test_deferred_out_of_order),
                         ("large_result", test_large_result),
                         ("connection_limit", test_connection_limit)]:
            check(name, lambda fn=fn: fn(srv))

        def stops_cleanly():
            rc, counters, err = srv.stop()
            expect(rc == 0, "exit %d: %s" % (rc, err))
            expect(not os.path.exists(srv.path), "socket file removed on exit")
            expect(counters["connections_refused"] == 1, counters)
            expect(counters["notifications"] == 1, counters)
            expect(counters["requests"] > 90 and counters["malformed"] >= 35, counters)
        check("stops_cleanly", stops_cleanly)
    finally:
        srv.cleanup()

    def live_socket_refused():
        a = Server()
        try:
            p = subprocess.run([SERVER, a.path], capture_output=True, text=True, timeout=10)
            expect(p.returncode == 1, "second server exit %d" % p.returncode)
            expect("already running" in p.stderr, p.stderr)
            c = Conn(a.path)  # the first still serves
            c.request(1, "echo", [])
            expect_exact(c, [1, 1, None, {}], "first server")
            c.close()
            # killed without clean-up: the next one takes the stale socket over
            a.proc.kill()
            a.proc.wait()
            expect(os.path.exists(a.path), "a killed server leaves its socket")
            b = subprocess.Popen([SERVER, a.path], stdout=subprocess.PIPE, text=True)
            expect(b.stdout.readline().strip() == "ready", "stale socket not taken over")
            c = Conn(a.path)
            c.request(2, "echo", [])
            expect_exact(c, [1, 2, None, {}], "new server")
            c.close()
            b.send_signal(signal.SIGTERM)
            b.communicate(timeout=10)
        finally:
            a.cleanup()
    check("live_socket_refused_stale_replaced", live_socket_refused)

    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
