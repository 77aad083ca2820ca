/*
 * route.c - choosing the egress port and next hop of a destination.
 *
 * A destination inside a port's subnet is its own next hop; otherwise the
 * first port with a gateway sends it to that gateway. The first matching
 * port wins, in configuration order, as with connected routes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include <rte_malloc.h>

#include "dp.h"
#include "neigh.h"
#include "route.h"

static struct yard_port *egress_for(uint32_t ipv4, uint32_t *next_hop)
{
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        struct yard_port *p = &yard_dp.ports[i];
        if ((ipv4 & p->netmask) == (p->ipv4 & p->netmask)) {
            *next_hop = ipv4;
            return p;
        }
    }
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        struct yard_port *p = &yard_dp.ports[i];
        if (p->gateway != 0) {
            *next_hop = p->gateway;
            return p;
        }
    }
    return NULL;
}

struct yard_route *yard_route_build(uint32_t ipv4, uint16_t udp_port, const uint8_t *mac, char *err,
                                    size_t errlen)
{
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ipv4, addr, sizeof(addr));
    uint32_t next_hop;
    struct yard_port *port = egress_for(ipv4, &next_hop);
    if (port == NULL) {
        snprintf(err, errlen,
                 "%s is not inside any port's subnet and no port has a gateway; "
                 "add a gateway to a port or a port on that subnet",
                 addr);
        return NULL;
    }
    struct yard_neighbor *nh = yard_neigh_get(port, next_hop, mac);
    if (nh == NULL) {
        snprintf(err, errlen, "neighbor table of port %u is full; cannot add next hop %s",
                 port->port_id, addr);
        return NULL;
    }
    struct yard_route *r = rte_zmalloc_socket("yard_route", sizeof(*r), 0, port->socket);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory for the route to %s", addr);
        return NULL;
    }
    r->dst_ipv4 = ipv4;
    r->dst_udp_port = htons(udp_port);
    r->port_id = port->port_id;
    r->nh = nh;
    return r;
}

int yard_route_install(const char *name, unsigned name_len, uint32_t ipv4, uint16_t udp_port,
                       const uint8_t *mac, char *err, size_t errlen)
{
    struct yard_route *r = yard_route_build(ipv4, udp_port, mac, err, errlen);
    if (r == NULL)
        return -EINVAL;
    int ret = yard_dir_set(yard_dp.dir, name, name_len, r);
    if (ret < 0) {
        rte_free(r);
        snprintf(err, errlen, "directory: cannot add '%.*s': %s", (int)name_len, name,
                 ret == -ENOSPC ? "the directory is full; raise its capacity" : "invalid name");
    }
    return ret;
}
