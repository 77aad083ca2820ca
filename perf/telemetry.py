#!/usr/bin/env python3
"""telemetry.py - a small client for DPDK's telemetry socket (standard library only).

Every DPDK process (testpmd, yard-dataplane, yard-loadgen) serves JSON over a
SOCK_SEQPACKET unix socket at /var/run/dpdk/<file-prefix>/dpdk_telemetry.v2:
on connect it sends a greeting, then answers one command per message, e.g.
"/ethdev/stats,0". The forwarding benchmark reads port counters this way, so
every program under test is measured by the same outside counter and none of
them has to report its own rate.

  telemetry.py --prefix P wait [--timeout S]
  telemetry.py --prefix P query /ethdev/stats,0
  telemetry.py --prefix P rate --tx-port net_null0 --rx-port net_pcap0 \\
               --warmup 2 --interval 5
"""

import argparse
import json
import os
import socket
import sys
import time

RUN_DIR = "/var/run/dpdk"


class Telemetry:
    """One connection to a DPDK process's telemetry socket."""

    def __init__(self, prefix, run_dir=RUN_DIR):
        self.path = os.path.join(run_dir, prefix, "dpdk_telemetry.v2")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(5)
        self.sock.connect(self.path)
        greeting = json.loads(self.sock.recv(65536).decode())
        self.max_len = int(greeting.get("max_output_len", 16384))
        self.pid = greeting.get("pid")

    def query(self, command):
        """Send one command, return the value under its key."""
        self.sock.send(command.encode())
        reply = json.loads(self.sock.recv(self.max_len + 1024).decode())
        return reply.get(command.split(",", 1)[0])

    def port_ids(self):
        """Ethdev name -> port id."""
        ids = {}
        for port in self.query("/ethdev/list") or []:
            info = self.query("/ethdev/info,%d" % port) or {}
            ids[info.get("name", str(port))] = port
        return ids

    def close(self):
        self.sock.close()


def connect_wait(prefix, timeout):
    """Connect once the process has started its telemetry (None on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Telemetry(prefix)
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


def port_counters(tel, port):
    stats = tel.query("/ethdev/stats,%d" % port) or {}
    return {k: stats.get(k, 0) for k in ("ipackets", "opackets", "imissed", "ierrors",
                                         "oerrors", "rx_nombuf")}


def measure_rate(tel, tx_port, rx_port, warmup, interval):
    """Packets per second out of tx_port and into rx_port over `interval`."""
    ids = tel.port_ids()
    for name in (tx_port, rx_port):
        if name not in ids:
            raise SystemExit("telemetry.py: no port named %s; the process has %s"
                             % (name, ", ".join(sorted(ids)) or "none"))
    time.sleep(warmup)
    t0 = time.monotonic()
    tx0, rx0 = port_counters(tel, ids[tx_port]), port_counters(tel, ids[rx_port])
    time.sleep(interval)
    t1 = time.monotonic()
    tx1, rx1 = port_counters(tel, ids[tx_port]), port_counters(tel, ids[rx_port])
    dt = t1 - t0
    return {
        "interval_s": round(dt, 4),
        "tx_port": tx_port,
        "rx_port": rx_port,
        "tx_pps": (tx1["opackets"] - tx0["opackets"]) / dt,
        "rx_pps": (rx1["ipackets"] - rx0["ipackets"]) / dt,
        "tx_oerrors": tx1["oerrors"] - tx0["oerrors"],
        "rx_imissed": rx1["imissed"] - rx0["imissed"],
        "rx_nombuf": rx1["rx_nombuf"] - rx0["rx_nombuf"],
    }


def main():
    ap = argparse.ArgumentParser(description="Query a DPDK process's telemetry socket.")
    ap.add_argument("--prefix", required=True, help="the process's --file-prefix")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait", help="wait until the socket answers")
    w.add_argument("--timeout", type=float, default=20)
    q = sub.add_parser("query", help="send one command, print the JSON answer")
    q.add_argument("command")
    r = sub.add_parser("rate", help="port rates over an interval, as JSON")
    r.add_argument("--tx-port", required=True, help="ethdev name whose opackets count")
    r.add_argument("--rx-port", required=True, help="ethdev name whose ipackets count")
    r.add_argument("--warmup", type=float, default=2)
    r.add_argument("--interval", type=float, default=5)
    r.add_argument("--timeout", type=float, default=20, help="for the socket to appear")
    args = ap.parse_args()

    tel = connect_wait(args.prefix, getattr(args, "timeout", 5))
    if tel is None:
        print("telemetry.py: no telemetry socket answered at %s/%s/dpdk_telemetry.v2; is the "
              "process running with --file-prefix %s?" % (RUN_DIR, args.prefix, args.prefix),
              file=sys.stderr)
        return 1
    try:
        if args.cmd == "wait":
            print(json.dumps({"pid": tel.pid}))
        elif args.cmd == "query":
            print(json.dumps(tel.query(args.command)))
        else:
            print(json.dumps(measure_rate(tel, args.tx_port, args.rx_port, args.warmup,
                                          args.interval)))
    except (OSError, ValueError) as e:
        print("telemetry.py: %s: %s" % (tel.path, e), file=sys.stderr)
        return 1
    finally:
        tel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
