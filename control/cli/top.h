/*
 * top.h - `yardctl top`: a live view of the appliance from its shm segment,
 * refreshed every interval: per-second rates in total, per class and per
 * drop reason, latency over the last interval, per-lcore busy share and
 * the dataplane's heartbeat.
 *
 * Like `yardctl stats` it needs no control plane; it reads the segment with
 * stats.c's snapshot and rate code. On a terminal it redraws one screen
 * (alternate screen, restored on exit, q or Ctrl-C quits); otherwise it
 * prints plain successive frames with no escape codes, for logs and tests.
 */
#ifndef YARD_CLI_TOP_H
#define YARD_CLI_TOP_H

#include <stdio.h>

struct yard_cli_top_opts {
    const char *instance;
    double interval_s; /* > 0 */
    long count;        /* frames to show; 0 until quit */
};

/* Run the view on out (errors to errf). Returns the exit code: 0, 1 no
 * such instance or unreadable segment, 2 unusable instance name. Installs
 * SIGINT/SIGTERM handlers; called once per process. */
int yard_cli_top(const struct yard_cli_top_opts *opts, FILE *out, FILE *errf);

#endif
