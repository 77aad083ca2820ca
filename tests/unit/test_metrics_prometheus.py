#!/usr/bin/python3
"""A real Prometheus scrapes /metrics.

metrics_serve fills a segment with metrics_fill.c's numbers and serves it
with the real loop, HTTP server and renderer. This test points a real
Prometheus server at it (scraping every second), waits until Prometheus
reports the target up, then asks Prometheus's query API for series and
compares them with the numbers the dataplane side wrote: what an operator's
dashboard would show.

    test_metrics_prometheus.py METRICS_SERVE

Exits 77 (skipped) when /usr/bin/prometheus is not installed.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PROMETHEUS = "/usr/bin/prometheus"
DEADLINE_S = 25

# metrics_fill.c's numbers (kept here on purpose: this is what a user expects)
EXPECTED = {
    'yard_rx_packets_total{lcore="1"}': 1000,
    'yard_messages_total{lcore="1",role="worker"}': 990,
    'yard_drops_total{lcore="1",reason="no_route"}': 60,
    'yard_drops_total{lcore="0",role="agent",reason="arp_ignored"}': 3,
    'yard_routed_total{lcore="1",class="0"}': 500,
    'yard_tx_total{lcore="1",class="1"}': 290,
    'yard_port_rx_packets_total{name="net_tap0"}': 1500,
    'yard_port_rx_missed_total{port="0"}': 4,
    'yard_latency_seconds_count{lcore="1"}': 100,
    'yard_latency_seconds_bucket{lcore="1",le="0.000024576"}': 99,
    'yard_directory_names': 7,
    'yard_commands_applied_total': 40,
    'yard_dataplane_up': 1,
    'sum(yard_tx_packets_total)': 880 + 500,
}

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"FAIL - {what}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read().decode()


def query(prom_port, expr):
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    _, _, body = get(url)
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise RuntimeError(f"query {expr}: {body}")
    return doc["data"]["result"]


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    if len(sys.argv) != 2:
        print("usage: test_metrics_prometheus.py METRICS_SERVE", file=sys.stderr)
        return 2
    if not os.access(PROMETHEUS, os.X_OK):
        print(f"skip: {PROMETHEUS} is not installed (Debian package prometheus)")
        return 77
    start = time.monotonic()
    instance = f"t-prom-{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="yard-prom-")
    serve = prom = None
    try:
        serve = subprocess.Popen([sys.argv[1], instance, "--seconds", str(DEADLINE_S + 10)],
                                 stdout=subprocess.PIPE, text=True)
        line = serve.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            print(f"FAIL - metrics_serve did not start: {line}")
            return 1
        port = int(line[1])

        # first as curl would see it
        status, headers, body = get(f"http://127.0.0.1:{port}/metrics")
        check(status == 200, "/metrics answers 200")
        check(headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8",
              f"/metrics content type: {headers['Content-Type']}")
        check('\nyard_rx_packets_total{lcore="1",role="worker"} 1000\n' in body,
              "/metrics holds the filled rx_packets")
        status, headers, body = get(f"http://127.0.0.1:{port}/health")
        check(status == 200 and json.loads(body)["ready"] is True, "/health says ready")

        prom_port = free_port()
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: yard
    static_configs:
      - targets: ['127.0.0.1:{port}']
""")
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                 f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=log, stderr=subprocess.STDOUT)

        # the target is up once a scrape succeeded
        target = None
        while time.monotonic() - start < DEADLINE_S:
            if prom.poll() is not None:
                break
            try:
                _, _, body = get(f"http://127.0.0.1:{prom_port}/api/v1/targets")
                active = json.loads(body)["data"]["activeTargets"]
                if active and active[0]["health"] == "up":
                    target = active[0]
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        if target is None:
            with open(os.path.join(tmp, "prometheus.log")) as f:
                print(f.read()[-3000:])
            print("FAIL - Prometheus never reported the target up")
            return 1
        check(target["lastError"] == "", f"scrape error: {target['lastError']!r}")
        check(target["labels"]["job"] == "yard", "the yard job scraped")

        for expr, want in EXPECTED.items():
            got = []
            while time.monotonic() - start < DEADLINE_S:
                got = query(prom_port, expr)
                if got:
                    break
                time.sleep(0.2)
            values = [float(r["value"][1]) for r in got]
            check(values == [float(want)], f"{expr} = {want} (Prometheus says {values})")

        # Prometheus understands the histogram: the median of 90 x 2 us,
        # 9 x 20 us, 1 x 500 us lies in the bucket (1.536 us, 2.048 us]
        got = query(prom_port, 'histogram_quantile(0.5, yard_latency_seconds_bucket{lcore="1"})')
        p50 = float(got[0]["value"][1]) if got else -1
        check(1.536e-6 < p50 <= 2.048e-6, f"p50 latency {p50} s in (1.536 us, 2.048 us]")

        # the control plane's own families arrived too, and scrapes keep coming
        got = query(prom_port, 'yard_metrics_scrapes_total')
        check(bool(got) and float(got[0]["value"][1]) >= 1, f"own scrape counter: {got}")
        got = query(prom_port, 'scrape_samples_scraped{job="yard"}')
        # 3 lcores x (15 events + busy seconds + 18 drops + 12 class counters +
        # 59 histogram lines), ports, header: over 300 samples
        check(bool(got) and float(got[0]["value"][1]) > 300, f"samples per scrape: {got}")
    finally:
        stop(prom)
        stop(serve)
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - start
    check(took < 30, f"finished in {took:.1f} s")
    check(serve.returncode == 0, f"metrics_serve exited {serve.returncode}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
