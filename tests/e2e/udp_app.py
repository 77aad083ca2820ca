#!/usr/bin/python3
"""udp_app.py - a plain kernel UDP application, run inside a network namespace.

It stands for the applications that talk to a Switchyard appliance: it sends
message envelopes from ordinary sockets and receives what the appliance
forwards, so the end-to-end tests see exactly what a real program would see
(including the kernel's own checksum verification on receive).

One-shot use, by hand:
    ip netns exec NS udp_app.py send --to 198.18.0.1:7400 --hex 98...
    ip netns exec NS udp_app.py recv --bind 198.18.1.2:7500 --count 1 --timeout 2
Each prints one JSON object on stdout.

The test harness runs `udp_app.py serve` instead: one long-lived process per
namespace that reads one JSON request per line on stdin and answers one JSON
line on stdout. A Python start-up per datagram would cost more than the
appliance takes to forward thousands of them, and a long-lived process can
hold sockets open between requests, so datagrams that arrive while the test
is busy elsewhere are queued by the kernel instead of lost.

Requests (all answers carry "ok": true, or "ok": false and "error"):
    {"op": "listen", "addr": [ip, port], "sniff": iface?}  -> {"sock": n}
        bind a UDP socket (and, with sniff, an AF_PACKET socket on iface that
        captures the raw frames of datagrams addressed to that port)
    {"op": "send", "sock": n?, "from": [ip, port]?, "to": [ip, port],
     "payloads": [hex, ...]}                                -> {"sent": n}
    {"op": "send_raw_udp", "to": [ip, port], "sport": p, "payload": hex,
     "checksum": c}                                          -> {"sent": 1}
        a SOCK_RAW IPPROTO_UDP socket: the kernel writes the IPv4 header,
        this program writes the UDP header, with whatever checksum it is told
    {"op": "recv", "sock": n, "count": k, "timeout": s, "quiet": q?}
        -> {"messages": [{"from": [ip, port], "payload": hex,
                          "frame": hex?}, ...]}
        waits until k datagrams arrived or timeout seconds passed (or,
        with quiet, until nothing arrived for q seconds after the first)
    {"op": "arp_watch", "iface": i}                        -> {}
        start counting the ARP requests seen on iface
    {"op": "arp_requests", "iface": i, "target": ip}      -> {"count": n}
        how many of them asked for target
    {"op": "stream_start", "to": [ip, port], "from": [ip, port]?, "rate": r,
     "template": hex, "id_offset": k, "first_id": n}      -> {}
        send the template at r datagrams per second from a thread, writing
        an increasing 8-byte big-endian id at id_offset (a uint64 field)
    {"op": "stream_stop"}                                 -> {"sent": n}
    {"op": "snmp"}  -> {"Udp": {...}, "Ip": {...}} from /proc/net/snmp
    {"op": "close", "sock": n}, {"op": "exit"}
"""
import argparse
import json
import select
import socket
import struct
import sys
import threading
import time

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806


def _addr(pair):
    return (pair[0], int(pair[1]))


class Listener:
    """A bound UDP socket, optionally with a raw capture of its frames."""

    def __init__(self, addr, sniff=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(_addr(addr))
        self.port = self.sock.getsockname()[1]
        self.raw = None
        self.frames = []  # captured Ethernet frames addressed to our port
        if sniff:
            self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
            self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.raw.bind((sniff, ETH_P_IP))
            self.raw.setblocking(False)

    def _drain_raw(self):
        if self.raw is None:
            return
        while True:
            try:
                frame, meta = self.raw.recvfrom(65535)
            except BlockingIOError:
                return
            if meta[2] == socket.PACKET_OUTGOING or len(frame) < 42:
                continue
            ihl = (frame[14] & 0x0F) * 4
            if frame[23] != 17 or len(frame) < 14 + ihl + 8:
                continue
            dport = struct.unpack_from("!H", frame, 14 + ihl + 2)[0]
            if dport == self.port:
                self.frames.append(frame)

    def frame_for(self, payload, timeout=0.5):
        """The captured frame that carried payload (first match), as hex.

        The kernel hands a frame to packet sockets before IP sees it, so it
        is normally queued already; the wait only covers the unexpected."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain_raw()
            for i, frame in enumerate(self.frames):
                ihl = (frame[14] & 0x0F) * 4
                total = struct.unpack_from("!H", frame, 16)[0]
                if frame[14 + ihl + 8:14 + total] == payload:
                    del self.frames[i]
                    return frame.hex()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self.raw], [], [], left)

    def recv(self, count, timeout, quiet=None):
        out = []
        deadline = time.monotonic() + timeout
        last = None
        while len(out) < count:
            now = time.monotonic()
            wait = deadline - now
            if quiet is not None and last is not None:
                wait = min(wait, last + quiet - now)
            if wait <= 0:
                break
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                continue
            data, src = self.sock.recvfrom(65535)
            last = time.monotonic()
            out.append({"from": [src[0], src[1]], "payload": data.hex()})
        if self.raw is not None:
            for m in out:
                m["frame"] = self.frame_for(bytes.fromhex(m["payload"]))
        return out

    def close(self):
        self.sock.close()
        if self.raw is not None:
            self.raw.close()


class ArpWatch:
    """Counts ARP requests seen on an interface, from a background thread."""

    def __init__(self, iface):
        self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        self.raw.bind((iface, ETH_P_ARP))
        self.requests = []  # (sender ip, target ip)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.raw.settimeout(0.05)
        while not self.stop:
            try:
                frame, meta = self.raw.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if meta[2] == socket.PACKET_OUTGOING or len(frame) < 42:
                continue
            op = struct.unpack_from("!H", frame, 20)[0]
            if op != 1:
                continue
            spa = socket.inet_ntoa(frame[28:32])
            tpa = socket.inet_ntoa(frame[38:42])
            with self.lock:
                self.requests.append((spa, tpa))

    def count(self, target):
        with self.lock:
            return sum(1 for _, t in self.requests if t == target)


class Stream:
    """Sends one envelope template at a fixed rate with increasing ids."""

    def __init__(self, sock, to, rate, template, id_offset, first_id):
        self.sock = sock
        self.to = to
        self.period = 1.0 / rate
        self.template = bytearray(template)
        self.id_offset = id_offset
        self.next_id = first_id
        self.sent = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        t = time.monotonic()
        while not self.stop:
            struct.pack_into("!Q", self.template, self.id_offset, self.next_id)
            self.sock.sendto(self.template, self.to)
            self.next_id += 1
            self.sent += 1
            t += self.period
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def finish(self):
        self.stop = True
        self.thread.join()
        return self.sent


def read_snmp():
    out = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[0::2], lines[1::2]):
        proto, keys = names.split(":", 1)
        _, vals = values.split(":", 1)
        out[proto] = dict(zip(keys.split(), (int(v) for v in vals.split())))
    return out


class Server:
    def __init__(self):
        self.listeners = {}
        self.senders = {}
        self.next_id = 1
        self.arp = {}
        self.stream = None

    def _sender(self, req):
        if req.get("sock") is not None:
            return self.listeners[req["sock"]].sock
        key = tuple(req.get("from") or ("", 0))
        s = self.senders.get(key)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(_addr(key))
            self.senders[key] = s
        return s

    def handle(self, req):
        op = req["op"]
        if op == "listen":
            listener = Listener(req["addr"], req.get("sniff"))
            n = self.next_id
            self.next_id += 1
            self.listeners[n] = listener
            return {"sock": n, "port": listener.port}
        if op == "send":
            s = self._sender(req)
            for p in req["payloads"]:
                s.sendto(bytes.fromhex(p), _addr(req["to"]))
            return {"sent": len(req["payloads"]), "from": list(s.getsockname())}
        if op == "send_raw_udp":
            payload = bytes.fromhex(req["payload"])
            udp = struct.pack("!HHHH", req["sport"], req["to"][1], 8 + len(payload),
                              req["checksum"])
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
            try:
                raw.sendto(udp + payload, (req["to"][0], 0))
            finally:
                raw.close()
            return {"sent": 1}
        if op == "recv":
            listener = self.listeners[req["sock"]]
            msgs = listener.recv(req["count"], req["timeout"], req.get("quiet"))
            return {"messages": msgs}
        if op == "arp_watch":
            self.arp[req["iface"]] = ArpWatch(req["iface"])
            return {}
        if op == "arp_requests":
            return {"count": self.arp[req["iface"]].count(req["target"])}
        if op == "stream_start":
            s = self._sender(req)
            self.stream = Stream(s, _addr(req["to"]), req["rate"], bytes.fromhex(req["template"]),
                                 req["id_offset"], req["first_id"])
            return {}
        if op == "stream_stop":
            sent = self.stream.finish()
            self.stream = None
            return {"sent": sent}
        if op == "snmp":
            return read_snmp()
        if op == "close":
            self.listeners.pop(req["sock"]).close()
            return {}
        raise ValueError("unknown op %r" % op)

    def serve(self, rfile, wfile):
        wfile.write(json.dumps({"ok": True, "ready": True}) + "\n")
        wfile.flush()
        for line in rfile:
            if not line.strip():
                continue
            req = json.loads(line)
            if req.get("op") == "exit":
                break
            try:
                ans = self.handle(req)
                ans["ok"] = True
            except Exception as e:  # answered, so the caller can report it
                ans = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            wfile.write(json.dumps(ans) + "\n")
            wfile.flush()


def _hostport(text):
    host, port = text.rsplit(":", 1)
    return [host, int(port)]


def main(argv):
    ap = argparse.ArgumentParser(description="A kernel UDP application for Switchyard's tests.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="answer JSON requests on stdin (see the module's text)")
    s = sub.add_parser("send", help="send datagrams given in hex")
    s.add_argument("--to", type=_hostport, required=True)
    s.add_argument("--from", dest="src", type=_hostport)
    s.add_argument("--hex", nargs="+", required=True)
    r = sub.add_parser("recv", help="receive datagrams and print them in hex")
    r.add_argument("--bind", type=_hostport, required=True)
    r.add_argument("--count", type=int, default=1)
    r.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args(argv)

    server = Server()
    if args.cmd == "serve":
        server.serve(sys.stdin, sys.stdout)
        return 0
    if args.cmd == "send":
        ans = server.handle({"op": "send", "to": args.to, "from": args.src, "payloads": args.hex})
    else:
        sock = server.handle({"op": "listen", "addr": args.bind})["sock"]
        ans = server.handle({"op": "recv", "sock": sock, "count": args.count,
                             "timeout": args.timeout})
    print(json.dumps(ans))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
