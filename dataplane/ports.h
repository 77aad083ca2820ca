/*
 * ports.h - bringing up the configured DPDK ports and their mempools.
 * Main lcore, start-up and shutdown only.
 */
#ifndef YARD_PORTS_H
#define YARD_PORTS_H

#include <stddef.h>

/* Find, configure and start every port of the configuration. */
int yard_ports_setup(char *err, size_t errlen);

/* Start every port (after the lcores have their queues). */
int yard_ports_start(char *err, size_t errlen);

/* Refresh the per-port counters and link state in shm (agent, ~100 ms). */
void yard_ports_export_stats(void);

void yard_ports_stop(void);

#endif
