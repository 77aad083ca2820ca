/*
 * route.h - turning a destination (IPv4, UDP port, optional fixed MAC) into
 * a route: the egress port whose subnet holds it (or that has a gateway)
 * and the neighbor to send to. Agent only: it creates neighbors.
 */
#ifndef YARD_ROUTE_H
#define YARD_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "dir.h"

/*
 * Build a route to ipv4:udp_port (network byte order address, host byte
 * order port); mac may be NULL (resolve by ARP). Returns the new route
 * (rte_malloc'd, owned by the directory once set) or NULL with a message.
 */
struct yard_route *yard_route_build(uint32_t ipv4, uint16_t udp_port, const uint8_t *mac, char *err,
                                    size_t errlen);

/* Build and install name's route in the directory. Returns 0 or -errno. */
int yard_route_install(const char *name, unsigned name_len, uint32_t ipv4, uint16_t udp_port,
                       const uint8_t *mac, char *err, size_t errlen);

#endif
