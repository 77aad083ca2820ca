/*
 * dp_fixture.h - what the dataplane unit tests share: a small DPDK EAL per
 * test process.
 *
 * Criterion runs each test in its own forked process, and an EAL does not
 * survive fork(), so every test starts its own: no hugepages, no PCI scan,
 * 256 MB of ordinary memory, no telemetry socket, no shared files
 * (--no-shconf; --in-memory is refused together with --no-huge) and a file
 * prefix with the pid, so tests run in parallel with each other and with a
 * real appliance. Header-only because each test is built from one source
 * file.
 */
#ifndef YARD_DP_FIXTURE_H
#define YARD_DP_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

/*
 * Start the EAL for this test process, with one more EAL argument `extra`
 * (e.g. "--vdev=net_null0") or NULL. Call from a suite's .init.
 */
static inline void yard_test_eal_start(const char *tag, const char *extra)
{
    static char prefix[64];
    snprintf(prefix, sizeof(prefix), "yt-%s-%d", tag, (int)getpid());
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"yard-unit-test";
    argv[argc++] = (char *)"--no-huge";
    argv[argc++] = (char *)"--no-pci";
    argv[argc++] = (char *)"-m";
    argv[argc++] = (char *)"256";
    argv[argc++] = (char *)"--no-shconf";
    argv[argc++] = (char *)"--no-telemetry";
    argv[argc++] = (char *)"--file-prefix";
    argv[argc++] = prefix;
    argv[argc++] = (char *)"-l";
    argv[argc++] = (char *)"0";
    argv[argc++] = (char *)"--log-level=error";
    if (extra != NULL)
        argv[argc++] = (char *)extra;
    argv[argc] = NULL;
    int ret = rte_eal_init(argc, argv);
    cr_assert_geq(ret, 0, "rte_eal_init (prefix %s): %s", prefix, rte_strerror(rte_errno));
    /* With no shared files and no telemetry the runtime directory stays
     * empty: remove it now, so that a test that crashes leaves nothing. */
    rmdir(rte_eal_get_runtime_dir());
}

static inline void yard_test_eal_stop(void)
{
    rte_eal_cleanup();
}

#endif
