/*
 * forward.h - the per-burst message path shared by rtc and pipeline modes:
 * classify, parse, look up, rewrite, admit to class queues.
 *
 * Who calls it: worker lcores, once per received burst. Cost: no
 * allocation, no locks, no syscalls; one bulk directory lookup per burst.
 * The mode only decides who later drains the class queues.
 */
#ifndef YARD_FORWARD_H
#define YARD_FORWARD_H

#include <rte_mbuf.h>

#include "dp.h"

/*
 * Build the lookup tables the fast path uses and the punt rate limit from
 * yard_dp.cfg and yard_dp.tsc_hz (once, before lcores start).
 */
void yard_forward_init(void);

/*
 * Route n packets received at TSC `rx_tsc`. Every packet ends up in exactly
 * one place: a class queue of its egress port, the agent's slow ring (ARP,
 * unresolved next hop), the control plane's punt ring (copied, then freed,
 * if its source is within punt_rate_per_source), or freed with a drop
 * reason counted. A message to a topic becomes one copy per location
 * (counted in fanout_copies), and each copy goes its own way as above; for
 * topics, routed and class_routed count copies. A copy to a location on
 * another node (node != 0) leaves as kind FANOUT. A FANOUT received from a
 * cluster member's data address (yard_dp.members) is delivered as MSG to
 * its topic's locations on this node only (no_route when there are none);
 * from any other source it is dropped as fanout_not_member. rx_tsc also
 * clocks the punt rate limit.
 */
void yard_forward_burst(struct yard_lcore *lc, struct rte_mbuf **pkts, unsigned n, uint64_t rx_tsc);

/*
 * Rewrite a message's Ethernet, IPv4 and UDP headers to send it from
 * `egress` to location `route`, decrementing the envelope's ttl byte at
 * payload offset ttl_off. The UDP checksum is adjusted incrementally.
 * Exposed for the unit tests.
 */
void yard_forward_rewrite(struct rte_mbuf *m, const struct yard_port *egress,
                          const struct yard_loc *route, unsigned ttl_off);

#endif
