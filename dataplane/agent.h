/*
 * agent.h - the main lcore's slow-path loop.
 *
 * The agent never busy-polls: it wakes every millisecond to serve the
 * workers' slow rings (ARP, packets waiting for a next hop), apply commands
 * from the shm command ring, run neighbor timers, and every ~100 ms publish
 * its heartbeat and the ports' counters. SIGHUP reloads the configuration's
 * static routes without stopping the workers.
 */
#ifndef YARD_AGENT_H
#define YARD_AGENT_H

/* Install the configuration's static routes (start-up). Returns 0 or -errno. */
int yard_agent_load_routes(char *err, unsigned long errlen);

/* Run until yard_dp.quit. */
void yard_agent_run(void);

/* Ask the agent to reload the configuration's routes (signal-safe). */
void yard_agent_request_reload(void);

#endif
