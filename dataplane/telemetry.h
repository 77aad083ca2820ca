/*
 * telemetry.h - registers the dataplane's counters with DPDK telemetry
 * (/yard/stats, /yard/lcores, /yard/latency). Main lcore, at start-up.
 */
#ifndef YARD_TELEMETRY_H
#define YARD_TELEMETRY_H

void yard_telemetry_register(void);

#endif
