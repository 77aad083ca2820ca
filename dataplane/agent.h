/*
 * agent.h - the main lcore's slow-path loop.
 *
 * The agent never busy-polls: it wakes every millisecond to serve the
 * workers' slow rings (ARP, packets waiting for a next hop), send the
 * control plane's replies, apply commands from the shm command ring, run
 * neighbor timers, and every ~100 ms publish its heartbeat and the ports'
 * counters. While commands keep coming it applies them without sleeping,
 * publishing progress every couple of milliseconds. SIGHUP reloads the
 * configuration's routes without stopping the workers.
 */
#ifndef YARD_AGENT_H
#define YARD_AGENT_H

#include "yard_shm.h"

/*
 * Install the configuration's routes (start-up, after yard_dests_init()).
 * Returns 0 or -errno with the first problem in err.
 */
int yard_agent_load_routes(char *err, unsigned long errlen);

/* Run until yard_dp.quit. */
void yard_agent_run(void);

/* Ask the agent to reload the configuration's routes (signal-safe). */
void yard_agent_request_reload(void);

/*
 * Apply what the command ring holds, until it is empty: bursts of commands
 * for up to ~2 ms, then the slice's member changes published (a grace
 * period when they changed), one grace period for every route they
 * retired, then the progress (cmd_applied_seq and the directory's numbers)
 * published in the shm header, then the next slice; the slow rings and
 * replies are served between slices. Returns the commands taken. Agent
 * only (tests and benchmarks stand in for it).
 */
unsigned long yard_agent_serve_commands(struct yard_lcore_stats *stats);

/* Write the directory's numbers into the shm header. Agent only. */
void yard_agent_publish_directory(void);

#endif
