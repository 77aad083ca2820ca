/*
 * reply.h - sending the control plane's replies (ACK, NACK) to
 * applications from the appliance's data address.
 *
 * The control plane has no ports: it puts a UDP payload and its
 * destination in the shm reply ring; the agent wraps it in Ethernet, IPv4
 * and UDP headers (the port's MAC and address, the data UDP port, valid
 * checksums) and queues the frame on the port's agent_tx ring, like its
 * ARP frames. The Ethernet destination is the one the control plane gives
 * (the source MAC of the punt it answers), so a reply never waits for ARP.
 *
 * Threads: the agent only. Cost: one mbuf and one checksum pass over at
 * most YARD_REPLY_MAX_BYTES per reply.
 */
#ifndef YARD_REPLY_H
#define YARD_REPLY_H

#include <rte_mbuf.h>

#include "dp.h"

/*
 * Write r's frame into m (empty, with room for the frame) to leave from
 * port. Returns 0, or -EINVAL when r's length is 0 or above
 * YARD_REPLY_MAX_BYTES (m untouched).
 */
int yard_reply_build(struct rte_mbuf *m, const struct yard_port *port, const struct yard_reply *r);

/*
 * Take up to `max` records from the reply ring and queue their frames.
 * Counts replies_sent per frame queued; bad_reply for a record with an
 * unknown tx_port or an unusable length; no_mbuf when the port's pool is
 * empty; tx_full when its agent_tx ring is. Returns the records taken.
 */
unsigned yard_replies_serve(struct yard_lcore_stats *stats, unsigned max);

#endif
