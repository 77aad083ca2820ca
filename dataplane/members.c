/*
 * members.c - the cluster members' data addresses: the agent's pairs and
 * the immutable array workers search (see members.h).
 *
 * The agent edits a fixed array of pairs sorted by (address, node); a
 * publish derives the distinct addresses from it in one pass, so two nodes
 * behind one address (two instances on one host) keep it accepted until
 * both are gone. Publishing at the end of a batch rather than per command
 * means a full sync of a thousand members costs one array and one grace
 * period, not a thousand.
 */
#define _LGPL_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "members.h"
#include "dest.h"

void yard_members_init(struct yard_members *m)
{
    memset(m, 0, sizeof(*m));
}

void yard_members_free(struct yard_members *m)
{
    free(m->live);
    m->live = NULL;
}

/* Pair order: by address as a number, then by node. */
static int pair_cmp(uint32_t ipv4_a, uint32_t node_a, uint32_t ipv4_b, uint32_t node_b)
{
    uint32_t a = ntohl(ipv4_a), b = ntohl(ipv4_b);
    if (a != b)
        return a < b ? -1 : 1;
    return node_a < node_b ? -1 : node_a > node_b;
}

/* Index of the first pair not below (ipv4, node). */
static uint32_t lower_bound(const struct yard_members *m, uint32_t ipv4, uint32_t node)
{
    uint32_t lo = 0, hi = m->nb_pairs;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pair_cmp(m->pairs[mid].ipv4, m->pairs[mid].node, ipv4, node) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool usable_address(uint32_t ipv4)
{
    uint32_t h = ntohl(ipv4);
    uint8_t first = (uint8_t)(h >> 24);
    /* 0/8 "this network", 127/8 loopback, 224/4 multicast and above
     * (240/4 reserved, the limited broadcast): no peer sends from these. */
    return first != 0 && first != 127 && first < 224;
}

int yard_members_add(struct yard_members *m, uint32_t ipv4, uint32_t node, char *why, size_t whylen)
{
    char addr[INET_ADDRSTRLEN];
    if (node == 0 || !usable_address(ipv4)) {
        inet_ntop(AF_INET, &ipv4, addr, sizeof(addr));
        snprintf(why, whylen,
                 "member %s of node %u: %s; a member is another node (id != 0) at a unicast "
                 "data address",
                 addr, node, node == 0 ? "node 0 is this node" : "not a host's address");
        return -EINVAL;
    }
    uint32_t at = lower_bound(m, ipv4, node);
    if (at < m->nb_pairs && m->pairs[at].ipv4 == ipv4 && m->pairs[at].node == node) {
        m->pairs[at].seen = m->epoch; /* a refresh: workers see no change */
        return 0;
    }
    if (m->nb_pairs >= YARD_MEMBERS_MAX) {
        inet_ntop(AF_INET, &ipv4, addr, sizeof(addr));
        snprintf(why, whylen,
                 "member %s of node %u: the dataplane holds %u members, the most it keeps; "
                 "remove one first",
                 addr, node, (unsigned)YARD_MEMBERS_MAX);
        return -ENOSPC;
    }
    memmove(&m->pairs[at + 1], &m->pairs[at], (m->nb_pairs - at) * sizeof(m->pairs[0]));
    m->pairs[at] = (struct yard_member){.ipv4 = ipv4, .node = node, .seen = m->epoch};
    m->nb_pairs++;
    m->dirty = true;
    return 0;
}

int yard_members_del(struct yard_members *m, uint32_t ipv4, uint32_t node)
{
    uint32_t at = lower_bound(m, ipv4, node);
    if (at >= m->nb_pairs || m->pairs[at].ipv4 != ipv4 || m->pairs[at].node != node)
        return 0;
    memmove(&m->pairs[at], &m->pairs[at + 1], (m->nb_pairs - at - 1) * sizeof(m->pairs[0]));
    m->nb_pairs--;
    m->dirty = true;
    return 0;
}

void yard_members_sync_begin(struct yard_members *m, uint32_t generation)
{
    m->epoch++;
    m->sync_generation = generation;
    m->sync_open = true;
}

int yard_members_sync_end(struct yard_members *m, uint32_t generation, uint64_t *swept, char *why,
                          size_t whylen)
{
    *swept = 0;
    if (yard_sync_end_check(m->sync_open, m->sync_generation, generation, why, whylen) < 0)
        return -EINVAL;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < m->nb_pairs; i++)
        if (m->pairs[i].seen == m->epoch)
            m->pairs[kept++] = m->pairs[i];
    *swept = m->nb_pairs - kept;
    if (kept != m->nb_pairs)
        m->dirty = true;
    m->nb_pairs = kept;
    m->swept += *swept;
    m->sync_open = false;
    return 0;
}

int yard_members_publish(struct yard_members *m)
{
    if (!m->dirty)
        return 0;
    struct yard_member_set *next = NULL;
    if (m->nb_pairs > 0) {
        next = malloc(sizeof(*next) + m->nb_pairs * sizeof(next->ipv4_host[0]));
        if (next == NULL)
            return -ENOMEM;
        /* The pairs are sorted by address: equal addresses are adjacent. */
        uint32_t n = 0;
        for (uint32_t i = 0; i < m->nb_pairs; i++) {
            uint32_t h = ntohl(m->pairs[i].ipv4);
            if (n == 0 || next->ipv4_host[n - 1] != h)
                next->ipv4_host[n++] = h;
        }
        next->nb = n;
    }
    struct yard_member_set *old = m->live;
    rcu_assign_pointer(m->live, next);
    m->dirty = false;
    if (old != NULL) {
        /* After this, no worker can still be searching the old array. */
        synchronize_rcu();
        free(old);
    }
    return 1;
}

uint32_t yard_members_count(const struct yard_members *m)
{
    return m->nb_pairs;
}

bool yard_members_has(const struct yard_members *m, uint32_t ipv4)
{
    const struct yard_member_set *set = rcu_dereference(m->live);
    if (set == NULL)
        return false;
    uint32_t h = ntohl(ipv4), lo = 0, hi = set->nb;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t v = set->ipv4_host[mid];
        if (v == h)
            return true;
        if (v < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}
