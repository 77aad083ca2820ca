/*
 * route.h - turning a location (IPv4, UDP port, optional fixed MAC) into
 * what workers need to send to it: the egress port whose subnet holds it
 * (or that has a gateway) and the neighbor to send to. Agent only: it
 * creates neighbors.
 */
#ifndef YARD_ROUTE_H
#define YARD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dir.h"

/*
 * Fill the worker-read part of loc (nh, dst_ipv4, dst_udp_port, port_id)
 * for ipv4:udp_port (network byte order address, host byte order port).
 * mac, when not NULL, fixes the next hop's MAC (no ARP); from_control says
 * the control plane gave it, so a configuration reload leaves it alone.
 * Returns 0, or -EINVAL (not a unicast host address, port 0, no port can
 * reach it, unusable MAC) or -ENOSPC (neighbor table full), with a message
 * in err. Agent only; a hash lookup and a scan of the ports.
 */
int yard_route_resolve(uint32_t ipv4, uint16_t udp_port, const uint8_t *mac, bool from_control,
                       struct yard_loc *loc, char *err, size_t errlen);

#endif
