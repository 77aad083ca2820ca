"""test_config.py - what an operator sees when the command line or file is wrong.

A mistake must stop the dataplane with a non-zero exit and a message that
names the thing that is wrong and how to fix it, before it touches traffic.
"""
from harness import Dataplane, Lab, Route, check, run_plain


def test_bad_config(build):
    """Mistakes in the file or command line stop the dataplane with a message naming them."""
    exe = Dataplane.binary(build)

    p = run_plain([exe, "--help"])
    check(p.returncode == 0, "--help exited %d" % p.returncode)
    check("usage: yard-dataplane" in p.stdout and "--check-config" in p.stdout,
          "--help does not show the usage:\n" + p.stdout[:500])

    with Lab("a") as lab:
        dp = Dataplane(lab, build, [Route("svc.a", lab.a.ip, 7500)])
        rc, out = dp.run_to_exit(app_args=["--check-config"])
        check(rc == 0, "--check-config on a good file exited %d:\n%s" % (rc, out))
        check("OK" in out and "1 routes" in out, "--check-config said:\n" + out)

        good = dp.config_text()
        bad_ip = good.replace("ipv4: 198.18.0.1/24", "ipv4: 198.18.0.300/24")
        check(bad_ip != good, "test bug: the port address is not in the file")
        for args, what in (([], "start-up"), (["--check-config"], "--check-config")):
            rc, out = dp.run_to_exit(config_text=bad_ip, app_args=args)
            check(rc != 0, "%s with ipv4 198.18.0.300/24 exited 0:\n%s" % (what, out))
            check("ports[0].ipv4" in out and "198.18.0.300" in out,
                  "%s: the message does not name ports[0].ipv4 and its value:\n%s" % (what, out))

        # A port the EAL was not given: the file is fine, the command line is not.
        missing = good.replace("device: net_af_packet0", "device: net_af_packet7")
        check(missing != good, "test bug: the device is not in the file")
        rc, out = dp.run_to_exit(config_text=missing)
        check(rc != 0, "a device that does not exist: exited 0:\n" + out)
        check("net_af_packet7" in out and "--vdev" in out,
              "the message does not name net_af_packet7 and --vdev:\n" + out)
        check("net_af_packet0" in out, "the message does not list the ports present:\n" + out)
