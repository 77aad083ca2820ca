/*
 * metrics_fill.h - plays the dataplane for the /metrics tests: fills a
 * segment with the fixed numbers listed in metrics_fill.c, which
 * test_metrics.c and test_metrics_prometheus.py check the exposition
 * against (each holds its own copy of the expected values).
 */
#ifndef YARD_TEST_METRICS_FILL_H
#define YARD_TEST_METRICS_FILL_H

#include "yard_shm.h"

/* The fixed contents (see metrics_fill.c); the caller created shm. */
void metrics_fill(struct yard_shm *shm);

/* Every one of the segment's lcores in use, as workers with busy
 * counters and histograms, for timing a worst-case scrape. */
void metrics_fill_all_lcores(struct yard_shm *shm);

/* Refresh the dataplane's heartbeat (about every 100 ms keeps it fresh). */
void metrics_fill_heartbeat(struct yard_shm *shm);

#endif
