/*
 * ports.h - bringing up the configured DPDK ports and their mempools, and
 * keeping the workers off a memif port while its peer's memory goes.
 *
 * Set-up, start and stop run on the main lcore at start-up and shutdown;
 * yard_ports_poll_links() and yard_ports_export_stats() are the agent's;
 * yard_port_polled() is the workers' (hot path).
 */
#ifndef YARD_PORTS_H
#define YARD_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_config.h>

/*
 * Per port id: bit 0 set while workers may call rx/tx burst on the port,
 * the other bits count the times it was taken from them. Read with
 * yard_port_polled(); written only by ports.c (the agent opens a port, the
 * driver's teardown closes it).
 */
extern uint32_t yard_port_gate[RTE_MAX_ETHPORTS];

/* Find, configure and start every port of the configuration. */
int yard_ports_setup(char *err, size_t errlen);

/* Start every port (after the lcores have their queues). */
int yard_ports_start(char *err, size_t errlen);

/*
 * Whether a worker or tx lcore may call rte_eth_rx_burst/tx_burst on
 * port_id now. Call it before every burst call, inside the loop's QSBR
 * read-side section (between two rcu_quiescent_state() calls): a port that
 * was open at this check stays mapped until the caller's next quiescent
 * state. A port whose driver cannot lose its memory under a poller (any
 * but memif) is always open. Any polling lcore; one load.
 */
static inline bool yard_port_polled(uint16_t port_id)
{
    return (__atomic_load_n(&yard_port_gate[port_id], __ATOMIC_ACQUIRE) & 1) != 0;
}

/*
 * Open every closed memif port whose peer is connected (link up) again,
 * and log each port's disconnects and reconnects. Agent, every tick: one
 * rte_eth_link_get_nowait() per closed port, none for open ones.
 */
void yard_ports_poll_links(void);

/* Refresh the per-port counters and link state in shm (agent, ~100 ms). */
void yard_ports_export_stats(void);

void yard_ports_stop(void);

#endif
