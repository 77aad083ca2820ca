/*
 * dest.h - destinations: what the directory's commands mean.
 *
 * A name maps to a destination: an endpoint (one location, or a group when
 * there are several) or a topic (one copy per subscriber location), with
 * at most YARD_DEST_MAX_LOCATIONS locations. A location is identified by
 * its IPv4 address and UDP port and carries its origin: CONFIG for the
 * dataplane's own YAML routes, anything else for the control plane's.
 *
 * Every change builds a new route object and publishes it in the directory
 * (dir.h); nothing here waits for readers, so the caller runs
 * yard_dir_reclaim() once per batch of changes.
 *
 * Full syncs (yard_shm.h): SYNC_BEGIN(g) starts a new epoch; every add or
 * refresh of a control-origin location stamps it with the current epoch;
 * SYNC_END(g) removes the control-origin locations whose stamp is older.
 * An internal epoch rather than g itself, so a control plane that reuses a
 * generation number cannot make stale locations look fresh. Configuration
 * loads do the same with their own epoch over CONFIG locations.
 *
 * Threads: the agent only (or a test standing in for it). Costs: a hash
 * lookup, an object copy of the destination's locations and a hash update
 * per change; a sweep walks the whole directory once.
 */
#ifndef YARD_DEST_H
#define YARD_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dir.h"
#include "yard_shm.h"

_Static_assert(YARD_DEST_MAX_LOCATIONS == YARD_ROUTE_MAX_LOCS,
               "a route object holds every location the contract allows");

/* The agent's destination state over one directory. */
struct yard_dests {
    struct yard_dir *dir;
    uint64_t nb_locations;    /* locations in every destination */
    uint64_t swept;           /* locations removed at SYNC_END, ever */
    uint32_t epoch;           /* control locations' stamp; a new one per SYNC_BEGIN */
    uint32_t config_epoch;    /* CONFIG locations' stamp; a new one per configuration load */
    uint32_t sync_generation; /* g of the open sync */
    bool sync_open;
};

/* One location as an add names it. */
struct yard_loc_spec {
    uint32_t ipv4;      /* network byte order */
    uint16_t udp_port;  /* host byte order */
    uint8_t dest_type;  /* enum yard_dest_type */
    uint8_t origin;     /* enum yard_origin */
    uint32_t node;      /* 0 = this node; others count as remote for groups */
    const uint8_t *mac; /* fixed next-hop MAC, or NULL to resolve by ARP */
};

void yard_dests_init(struct yard_dests *d, struct yard_dir *dir);

/*
 * The control plane's add (LOC_ADD): add a location to `name`, or refresh
 * it when the name already has one at the same address and port (even a
 * CONFIG one, which becomes the control plane's): its origin, fixed MAC,
 * node and stamp become the new ones. spec->origin must be a control
 * origin (1-3). Returns 0, or with a message in why: -EINVAL (bad name,
 * type, origin, address, port or MAC), -EEXIST (the name is of the other
 * dest_type), -E2BIG (the destination has YARD_DEST_MAX_LOCATIONS
 * already), -ENOSPC (directory or neighbor table full), -ENOMEM.
 */
int yard_dest_add(struct yard_dests *d, const char *name, unsigned len,
                  const struct yard_loc_spec *spec, char *why, size_t whylen);

/*
 * Remove the location ipv4:udp_port (network / host byte order) of `name`.
 * An absent name or location is not an error (returns 0). A CONFIG
 * location is the dataplane's: -EPERM. -EINVAL for a bad name.
 */
int yard_dest_del_loc(struct yard_dests *d, const char *name, unsigned len, uint32_t ipv4,
                      uint16_t udp_port, char *why, size_t whylen);

/*
 * Remove every control-origin location of `name` (the name goes when no
 * CONFIG location is left). Absent: 0. -EINVAL for a bad name.
 */
int yard_dest_del_name(struct yard_dests *d, const char *name, unsigned len, char *why,
                       size_t whylen);

/* SYNC_BEGIN(generation): a new epoch; an open sync is abandoned for this one. */
void yard_dest_sync_begin(struct yard_dests *d, uint32_t generation);

/*
 * Whether SYNC_END(generation) closes the sync that is open (sync_open,
 * open_generation): 0, or -EINVAL with the reason in why. Shared by every
 * table a full sync covers (destinations, members).
 */
int yard_sync_end_check(bool sync_open, uint32_t open_generation, uint32_t generation, char *why,
                        size_t whylen);

/*
 * SYNC_END(generation): remove every control-origin location not added or
 * refreshed since the matching SYNC_BEGIN; *swept says how many. -EINVAL
 * (nothing done) when no sync with that generation is open; -ENOMEM.
 */
int yard_dest_sync_end(struct yard_dests *d, uint32_t generation, uint64_t *swept, char *why,
                       size_t whylen);

/* A configuration load begins: CONFIG adds from now on carry a new stamp. */
void yard_dest_config_begin(struct yard_dests *d);

/*
 * A configuration route: make rc's address the one CONFIG location of its
 * name (an endpoint), replacing any other CONFIG location in one step and
 * keeping the control plane's locations. An address the control plane
 * already has for the name stays the control plane's. Unchanged routes are
 * only restamped. Same errors as yard_dest_add().
 */
int yard_dest_set_config(struct yard_dests *d, const struct yard_route_conf *rc, char *why,
                         size_t whylen);

/*
 * A configuration load ends: remove the CONFIG locations of the names of
 * routes[0..n) (the previous configuration's) that this load did not add
 * or refresh. Returns how many locations went.
 */
uint64_t yard_dest_config_end(struct yard_dests *d, const struct yard_route_conf *routes,
                              unsigned n);

#endif
