/*
 * neigh.h - next-hop resolution: the per-port neighbor table and ARP.
 *
 * Owned by the agent (main lcore). Workers only read a neighbor's state and
 * MAC through route->nh; when the state is INCOMPLETE they hand the packet
 * to the agent, which holds a few per neighbor (arp.hold_packets) while it
 * sends ARP requests (arp.retries, every arp.retry_ms) and releases them
 * once the reply arrives, or drops them as no_neighbor when it never does.
 * The agent also answers ARP requests for the port's own address.
 *
 * Frames the agent sends leave through the port's agent_tx ring, drained by
 * the one lcore that owns a tx queue for that purpose.
 */
#ifndef YARD_NEIGH_H
#define YARD_NEIGH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "dir.h"
#include "yard_shm.h"

struct yard_port;
struct yard_neigh_table;

/* Create the port's table (agent, at start-up). */
int yard_neigh_table_create(struct yard_port *port, unsigned capacity, int socket);
void yard_neigh_table_free(struct yard_port *port);

/*
 * The neighbor for ipv4 on port, created INCOMPLETE if new. With a
 * static_mac the entry becomes STATIC with that MAC (a given MAC wins over
 * ARP); from_control marks it as given by the control plane, which
 * configuration reloads leave alone. NULL when the table is full.
 */
struct yard_neighbor *yard_neigh_get(struct yard_port *port, uint32_t ipv4,
                                     const uint8_t *static_mac, bool from_control);

/*
 * Reloading the configuration: between _begin and _end every fixed MAC that
 * is still wanted is asserted again through yard_neigh_get(); _end turns
 * the rest back into ARP-resolved entries (kept in use while a refresh
 * request goes out at once), so removing `mac:` from a route takes effect.
 * MACs the control plane fixed stay fixed.
 */
void yard_neigh_reload_begin(struct yard_port *port);
void yard_neigh_reload_end(struct yard_port *port, struct yard_lcore_stats *stats);

/*
 * Queue a frame the agent built for the lcore that transmits port's agent
 * frames. True when queued; false when that ring is full, in which case m
 * was freed and counted as tx_full. Agent only.
 */
bool yard_agent_tx(struct yard_port *port, struct rte_mbuf *m, struct yard_lcore_stats *stats);

/* Handle an ARP frame received on port; always consumes m. */
void yard_neigh_arp_input(struct yard_port *port, struct rte_mbuf *m,
                          struct yard_lcore_stats *stats);

/*
 * A packet (headers already rewritten but the destination MAC) waiting for
 * nh. Sends it at once if nh got resolved meanwhile, else holds it, starting
 * ARP if needed; drops it as no_neighbor when the hold is full.
 */
void yard_neigh_hold(struct yard_neighbor *nh, struct rte_mbuf *m, struct yard_lcore_stats *stats);

/* Retries, give-ups and refreshes due at now_tsc, for every neighbor of port. */
void yard_neigh_timers(struct yard_port *port, uint64_t now_tsc, struct yard_lcore_stats *stats);

/* Number of neighbors in each state, for status output. */
void yard_neigh_count(const struct yard_port *port, unsigned *resolved, unsigned *incomplete,
                      unsigned *fixed);

#endif
