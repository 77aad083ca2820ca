#!/usr/bin/python3
"""run.py - Switchyard's end-to-end tests: yard-dataplane between real kernel
UDP applications in network namespaces.

    sudo /usr/bin/python3 tests/e2e/run.py --build build [NAME ...]

Runs every test (or those named), prints `ok N - name` or
`not ok N - name: reason` for each and, last, `N passed, M failed`; exits 1
if any failed. Needs root (namespaces, veths, hugepages): without it, says so
and exits 77, which meson counts as skipped. Needs iproute2, ethtool and
python3-msgpack, and yard-dataplane and yardctl built in the build directory.
"""
import argparse
import importlib.util
import os
import shutil
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

SKIP = 77


def preflight(build):
    """Problems that would make every test fail for the same dull reason."""
    problems = []
    packages = {"ip": "iproute2", "ethtool": "ethtool", "promtool": "prometheus",
                "prometheus": "prometheus", "setpriv": "util-linux"}
    for tool, package in packages.items():
        if shutil.which(tool) is None:
            problems.append("%s is not installed (apt-get install %s)" % (tool, package))
    if importlib.util.find_spec("msgpack") is None:
        problems.append("python3-msgpack is not installed for %s (apt-get install python3-msgpack)"
                        % sys.executable)
    import harness
    import control
    for exe in (harness.Dataplane.binary(build), harness.Dataplane.yardctl_binary(build),
                control.Control.binary(build)):
        if not os.access(exe, os.X_OK):
            problems.append("%s is missing; build it: ninja -C %s dataplane/yard-dataplane "
                            "control/yard-control control/cli/yardctl" % (exe, build))
    if not os.path.isdir("/dev/hugepages"):
        problems.append("no hugetlbfs at /dev/hugepages; reserve hugepages first")
    return problems


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"),
                    help="meson build directory holding the programs under test")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--all", action="store_true",
                    help="also run the tests of known defects (see --list)")
    ap.add_argument("names", nargs="*", help="tests to run (default: all)")
    args = ap.parse_args(argv)

    import test_api
    import test_arp
    import test_cluster
    import test_cluster_serf
    import test_config
    import test_control
    import test_forward
    import test_partition
    import test_reload
    import test_restart
    import test_restart_loadgen

    tests = [
        ("forward", test_forward.test_forward),
        ("no_route", test_forward.test_no_route),
        ("bad_envelope", test_forward.test_bad_envelope),
        ("ttl_expired", test_forward.test_ttl_expired),
        ("arp", test_arp.test_arp),
        ("fixed_mac", test_arp.test_fixed_mac),
        ("reload", test_reload.test_reload),
        ("classes", test_forward.test_classes),
        ("pipeline", test_forward.test_pipeline),
        ("bad_config", test_config.test_bad_config),
        ("kinds", test_forward.test_kinds),
        ("gateway", test_arp.test_gateway),
        ("reload_mac", test_reload.test_reload_mac),
        ("register", test_control.test_register),
        ("lease_expiry", test_control.test_lease_expiry),
        ("groups", test_control.test_groups),
        ("topics", test_control.test_topics),
        ("punt_flood", test_control.test_punt_flood),
        ("api", test_api.test_api),
        ("yardctl", test_api.test_yardctl),
        ("metrics", test_api.test_metrics),
        ("wal_kill", test_api.test_wal_kill),
        ("control_restart", test_restart.test_control_restart),
        ("dataplane_restart", test_restart.test_dataplane_restart),
        ("restart_loadgen", test_restart_loadgen.test_restart_loadgen),
        ("cluster", test_cluster.test_cluster),
        ("cluster_serf", test_cluster_serf.test_cluster_serf),
        ("partition", test_partition.test_partition),
    ]
    # Tests that show a defect not fixed yet: run only when named (or with
    # --all), so the default run stays a statement about what works. Move a
    # test out of here in the change that fixes its defect.
    known_defects = {
    }
    if args.list:
        for i, (name, fn) in enumerate(tests, 1):
            doc = " ".join((fn.__doc__ or "").split())
            print("%2d %-12s %s%s" % (i, name, doc, " [known defect: %s; not run by default]"
                                       % known_defects[name] if name in known_defects else ""))
        return 0
    unknown = [n for n in args.names if n not in dict(tests)]
    if unknown:
        print("unknown test(s): %s; known: %s" % (", ".join(unknown),
                                                  ", ".join(n for n, _ in tests)),
              file=sys.stderr)
        return 2

    if os.geteuid() != 0:
        print("e2e: skipped: these tests create network namespaces and run DPDK; run them as root")
        return SKIP
    build = os.path.abspath(args.build)
    problems = preflight(build)
    if problems:
        for p in problems:
            print("e2e: " + p)
        print("0 passed, %d failed" % len(args.names or tests))
        return 1

    import harness
    harness.sweep_stale()
    passed = failed = 0
    stopped = False
    t_run = time.monotonic()
    for i, (name, fn) in enumerate(tests, 1):
        if args.names and name not in args.names:
            continue
        if not args.names and not args.all and name in known_defects:
            print("# %s not run: known defect: %s (run it by name)" % (name, known_defects[name]))
            continue
        t0 = time.monotonic()
        first_log = harness.logs_started()
        try:
            fn(build)
            found = harness.sanitizer_reports(first_log)
            if found:
                raise harness.Failure("sanitizer report in the dataplane's output: %s\n%s" % (
                    found[0][1], "\n".join("in " + path for path, _ in found)))
        except harness.Failure as e:
            failed += 1
            lines = str(e).splitlines() or ["failed"]
            print("not ok %d - %s: %s" % (i, name, lines[0]))
            for line in lines[1:]:
                print("#   " + line)
        except Exception as e:
            failed += 1
            print("not ok %d - %s: %s: %s" % (i, name, type(e).__name__, str(e).splitlines()[0]
                                              if str(e) else ""))
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
        except (KeyboardInterrupt, SystemExit):
            failed += 1
            print("not ok %d - %s: interrupted" % (i, name))
            stopped = True
        else:
            passed += 1
            print("ok %d - %s" % (i, name))
        print("#   %s took %.1f s" % (name, time.monotonic() - t0))
        sys.stdout.flush()
        if stopped:
            break
    harness.cleanup_all()
    if failed == 0:
        harness._remove(harness.RUN_DIR)
    else:
        print("# configurations and dataplane logs kept in %s" % harness.RUN_DIR)
    print("# total %.1f s" % (time.monotonic() - t_run))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
