/*
 * route.c - choosing the egress port and next hop of a location.
 *
 * A location inside a port's subnet is its own next hop; otherwise the
 * first port with a gateway sends it to that gateway. The first matching
 * port wins, in configuration order, as with connected routes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

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

/* Why ipv4 (network byte order) cannot be a location, or NULL. */
static const char *not_a_host(uint32_t ipv4)
{
    uint32_t h = ntohl(ipv4);
    if ((h >> 24) == 0)
        return "is in 0.0.0.0/8, which no host can use";
    if (h == 0xffffffffu)
        return "is the broadcast address";
    if ((h >> 28) == 0xe)
        return "is a multicast address";
    if ((h >> 28) == 0xf)
        return "is in the reserved 240.0.0.0/4 range";
    for (unsigned i = 0; i < yard_dp.nb_ports; i++)
        if (yard_dp.ports[i].ipv4 == ipv4)
            return "is the appliance's own address";
    return NULL;
}

int yard_route_resolve(uint32_t ipv4, uint16_t udp_port, const uint8_t *mac, bool from_control,
                       struct yard_loc *loc, char *err, size_t errlen)
{
    /* Formatted only on the error paths: this runs once per command, a
     * million times in a full sync of a large directory. */
    char addr[INET_ADDRSTRLEN];
#define ADDR() inet_ntop(AF_INET, &ipv4, addr, sizeof(addr))
    const char *why = not_a_host(ipv4);
    if (why != NULL) {
        snprintf(err, errlen, "%s:%u: the address %s; a location is one unicast host", ADDR(),
                 udp_port, why);
        return -EINVAL;
    }
    if (udp_port == 0) {
        snprintf(err, errlen, "%s:0: UDP port 0 cannot be sent to; give the service's port",
                 ADDR());
        return -EINVAL;
    }
    if (mac != NULL &&
        ((mac[0] & 1) || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)) {
        snprintf(err, errlen,
                 "%s:%u: MAC %02x:%02x:%02x:%02x:%02x:%02x cannot be a next hop; give the host's "
                 "unicast MAC or none (ARP)",
                 ADDR(), udp_port, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        return -EINVAL;
    }
    uint32_t next_hop;
    struct yard_port *port = egress_for(ipv4, &next_hop);
    if (port == NULL) {
        snprintf(err, errlen,
                 "%s is not inside any port's subnet and no port has a gateway; "
                 "add a gateway to a port or a port on that subnet",
                 ADDR());
        return -EINVAL;
    }
    struct yard_neighbor *nh = yard_neigh_get(port, next_hop, mac, from_control);
    if (nh == NULL) {
        snprintf(err, errlen, "neighbor table of port %u is full; cannot add next hop %s",
                 port->port_id, ADDR());
        return -ENOSPC;
    }
#undef ADDR
    loc->nh = nh;
    loc->dst_ipv4 = ipv4;
    loc->dst_udp_port = htons(udp_port);
    loc->port_id = port->port_id;
    return 0;
}
