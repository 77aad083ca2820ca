/*
 * stats.h - `yardctl stats`: the appliance's counters, read straight from
 * the instance's shm segment.
 *
 * Reading shm rather than asking yard-control means the numbers are there
 * whenever a dataplane has run, even with the control plane down. The
 * segment is mapped read-only and no DPDK EAL is started. Counters are
 * copied while the dataplane writes them, so a snapshot is exact per
 * counter but not across counters (a message may show as received and not
 * yet routed).
 */
#ifndef YARD_CLI_STATS_H
#define YARD_CLI_STATS_H

#include <stdbool.h>
#include <stdio.h>

enum yard_cli_output {
    YARD_CLI_OUT_TABLE = 0,
    YARD_CLI_OUT_JSON = 1,
};

struct yard_cli_stats_opts {
    const char *instance;
    enum yard_cli_output output;
    double watch_s; /* > 0: print one line of rates every watch_s seconds */
    long count;     /* watch lines to print; 0 means until SIGINT or SIGTERM */
};

/*
 * Run `yardctl stats` with parsed options, printing to out and errors to
 * errf. Returns the process exit code: 0, or 1 for a runtime error (no such
 * instance, ABI mismatch, ...), or 2 for an unusable instance name. In watch
 * mode it installs SIGINT and SIGTERM handlers and returns 0 when one
 * arrives. Called once per process, from main().
 */
int yard_cli_stats(const struct yard_cli_stats_opts *opts, FILE *out, FILE *errf);

#endif
