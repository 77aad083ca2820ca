/*
 * yard_shm.h - the shared-memory contract between yard-dataplane,
 * yard-control and yardctl.
 *
 * One POSIX shm object per appliance instance, /dev/shm/yard-<instance>,
 * with a fixed, versioned layout:
 *
 *   header         magic, ABI version, geometry, section offsets, each
 *                  side's pid, start epoch and heartbeat
 *   command ring   control -> dataplane, fixed-size struct yard_cmd records
 *   punt ring      dataplane -> control, fixed-size struct yard_punt records
 *   reply ring     control -> dataplane, datagrams the control plane sends
 *                  to applications through the data ports (ACK, NACK)
 *   lcore blocks   per-lcore counters and latency histogram (one writer each)
 *   port blocks    per-port counters (written by the dataplane's agent)
 *
 * No pointer crosses the processes: sections are found by offset from the
 * header. The rings are DPDK rte_rings built in place with rte_ring_init()
 * on elements of a fixed size, so a process without an EAL can use them.
 *
 * Who may call what: yard_shm_create() is the dataplane's (at start-up, on
 * the main lcore); yard_shm_open() is for every reader. A reader refuses a
 * segment whose magic or ABI version differs from its own, with a message
 * that says which versions it found.
 */
#ifndef YARD_SHM_H
#define YARD_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yard_counters.h"
#include "yard_hist.h"

#define YARD_SHM_MAGIC       0x314d485344524159ull /* "YARDSHM1" little-endian */
#define YARD_SHM_ABI_VERSION 3u

#define YARD_SHM_MAX_LCORES  128
#define YARD_SHM_MAX_PORTS   32
#define YARD_SHM_EVENT_SLOTS 32 /* >= YARD_EV_MAX: room to append without an ABI bump */
#define YARD_SHM_DROP_SLOTS  32 /* >= YARD_DROP_MAX */

#define YARD_SHM_CMD_SLOTS   16384
#define YARD_SHM_PUNT_SLOTS  4096
#define YARD_SHM_REPLY_SLOTS 1024

#define YARD_NAME_MAX 63 /* bytes in an endpoint or topic name (PROTOCOL.md §1) */

enum yard_lcore_role {
    YARD_ROLE_NONE = 0,
    YARD_ROLE_WORKER = 1, /* rx, parse, route; in rtc mode also tx */
    YARD_ROLE_TX = 2,     /* pipeline mode: drains class rings to ports */
    YARD_ROLE_AGENT = 3,  /* main lcore: ARP, commands, heartbeats; sleeps */
};

/* "worker", "tx", "agent" or "none": the word every view (yardctl, metrics
 * labels) uses for a role. Static strings; any thread. */
const char *yard_lcore_role_name(uint32_t role);

/* Per-lcore counters: single writer (that lcore), any number of readers. */
struct yard_lcore_stats {
    uint32_t in_use;
    uint32_t role; /* enum yard_lcore_role */
    uint32_t socket;
    uint32_t reserved;
    uint64_t events[YARD_SHM_EVENT_SLOTS];
    uint64_t drops[YARD_SHM_DROP_SLOTS];
    uint64_t class_routed[YARD_NB_CLASSES];  /* admitted to a class queue */
    uint64_t class_tx[YARD_NB_CLASSES];      /* accepted by the NIC */
    uint64_t class_dropped[YARD_NB_CLASSES]; /* dropped after classification */
    struct yard_hist latency;                /* rx -> tx inside the appliance */
} __attribute__((aligned(64)));

/* Per-port counters, copied from the ethdev by the agent about every 100 ms. */
struct yard_port_stats {
    uint32_t in_use;
    uint16_t port_id;
    uint8_t link_up;
    uint8_t prefix_len;
    uint32_t ipv4; /* network byte order */
    uint32_t link_speed_mbps;
    uint8_t mac[6];
    uint16_t socket;
    char name[48];
    uint64_t ipackets, opackets, ibytes, obytes;
    uint64_t imissed, ierrors, oerrors, rx_nombuf;
} __attribute__((aligned(64)));

/* One side of the segment (dataplane or control plane). */
struct yard_shm_side {
    int32_t pid;
    uint32_t reserved;
    uint64_t start_epoch_ns; /* CLOCK_REALTIME at start */
    uint64_t heartbeat_ns;   /* CLOCK_MONOTONIC, refreshed about every 100 ms */
    uint64_t generation;     /* full-sync generation this side last completed */
};

struct yard_shm_header {
    uint64_t magic;
    uint32_t abi_version;
    uint32_t header_bytes;
    uint64_t total_bytes;
    char instance[32];
    uint64_t tsc_hz;
    uint32_t max_lcores, max_ports;
    uint32_t nb_events, nb_drops; /* entries in use in the slot arrays */
    uint32_t nb_classes, hist_buckets;
    uint32_t cmd_slots, cmd_record_bytes;
    uint32_t punt_slots, punt_record_bytes;
    uint32_t reply_slots, reply_record_bytes;
    uint32_t lcore_block_bytes, port_block_bytes;
    uint64_t cmd_ring_off, punt_ring_off, reply_ring_off, lcore_off, port_off;
    struct yard_shm_side dataplane;
    struct yard_shm_side control;
    uint64_t cmd_applied_seq; /* last command sequence the dataplane applied */
    uint32_t dataplane_ready; /* 1 once ports are up and workers run */
    uint32_t mode;            /* 0 rtc, 1 pipeline */

    /* The dataplane's directory, written by its agent after each batch of
     * commands (read by status, metrics and benchmarks). */
    uint64_t dir_names;          /* names in the directory */
    uint64_t dir_locations;      /* locations (endpoint members, subscribers) */
    uint64_t dir_capacity;       /* names the directory can hold */
    uint64_t dir_bytes;          /* memory the directory uses: hash table and routes */
    uint64_t cmd_applied;        /* commands applied */
    uint64_t cmd_rejected;       /* commands refused (bad name, table full, ...) */
    uint64_t sync_swept;         /* locations removed at the end of full syncs */
    uint64_t dir_members;        /* cluster members whose FANOUT datagrams are accepted */
    uint64_t sync_members_swept; /* members removed at the end of full syncs */
} __attribute__((aligned(64)));

/*
 * Commands, control -> dataplane.
 *
 * The dataplane's directory maps a name to a destination: an endpoint with
 * one or more locations (several make a group) or a topic with its
 * subscribers' locations. Commands add and remove single locations, so a
 * change never rewrites a whole destination on the wire; the dataplane
 * builds the new immutable route object and publishes it under RCU.
 *
 * Every location carries its origin. Routes from the dataplane's own YAML
 * file are YARD_ORIGIN_CONFIG and belong to the dataplane (SIGHUP); every
 * other origin belongs to the control plane and takes part in full syncs:
 *
 *   SYNC_BEGIN(g)   the control plane is about to re-send its whole table
 *   LOC_ADD ...     every location it has (each marks the location as seen in g)
 *   SYNC_END(g)     locations of control origins not seen since SYNC_BEGIN(g)
 *                   are removed; the dataplane's side generation becomes g
 *
 * Nothing is removed before SYNC_END, so a sync never opens a gap in
 * forwarding for a name that is still valid.
 *
 * Members: the dataplane accepts a FANOUT datagram (a topic copy another
 * node sends for this node's subscribers, PROTOCOL.md §1) only from the
 * data address of a current cluster member. MEMBER_ADD and MEMBER_DEL keep
 * that list, one (data address, node) pair each, at most YARD_MEMBERS_MAX
 * pairs; a full sync covers them as it covers control-origin locations:
 * pairs not re-added since SYNC_BEGIN(g) are removed at SYNC_END(g).
 */
enum yard_cmd_type {
    YARD_CMD_LOC_ADD = 1,    /* add (or refresh) one location of a name */
    YARD_CMD_LOC_DEL = 2,    /* remove one location (ipv4 + udp_port) of a name */
    YARD_CMD_NAME_DEL = 3,   /* remove every control-origin location of a name */
    YARD_CMD_SYNC_BEGIN = 4, /* generation in yard_cmd.generation */
    YARD_CMD_SYNC_END = 5,
    YARD_CMD_MEMBER_ADD = 6, /* add (or refresh) a member's data address: yard_cmd.u.member */
    YARD_CMD_MEMBER_DEL = 7, /* remove that (ipv4, node) pair; absent is not an error */
};

enum yard_dest_type {
    YARD_DEST_ENDPOINT = 0, /* one location, or a group when there are several */
    YARD_DEST_TOPIC = 1,    /* one copy per subscriber location */
};

enum yard_origin {
    YARD_ORIGIN_CONFIG = 0,     /* the dataplane's YAML routes */
    YARD_ORIGIN_STATIC = 1,     /* routes and endpoints added by the operator */
    YARD_ORIGIN_REGISTERED = 2, /* REGISTER / SUBSCRIBE from applications (leased) */
    YARD_ORIGIN_REMOTE = 3,     /* learned from another cluster node */
};

/* Locations of a destination the dataplane keeps at most (group members,
 * topic subscribers). The control plane refuses more. */
#define YARD_DEST_MAX_LOCATIONS 256

struct yard_cmd_loc {
    uint8_t name_len;
    char name[YARD_NAME_MAX + 1]; /* NUL-terminated */
    uint8_t dest_type;            /* enum yard_dest_type */
    uint8_t origin;               /* enum yard_origin */
    uint8_t has_mac;              /* fixed next-hop MAC: no ARP */
    uint8_t mac[6];
    uint16_t udp_port; /* host byte order */
    uint32_t ipv4;     /* network byte order */
    uint32_t node;     /* cluster node hosting the location; 0 = this node */
};

/* Cluster members (data addresses) the dataplane keeps at most; it refuses
 * more, counted in cmd_rejected. */
#define YARD_MEMBERS_MAX 1024

struct yard_cmd_member {
    uint32_t ipv4; /* the member's data address, network byte order */
    uint32_t node; /* its node id, != 0 (0 is this node) */
};

struct yard_cmd {
    uint64_t seq;
    uint32_t type; /* enum yard_cmd_type */
    uint32_t generation;
    union {
        struct yard_cmd_loc loc;
        struct yard_cmd_member member;
        uint8_t raw[240];
    } u;
};

/*
 * Fill *cmd as a MEMBER_ADD or MEMBER_DEL (type) of node's data address
 * ipv4 (network byte order), with sequence number seq and generation (the
 * open sync's, or 0). The rest of the record is zeroed. Any process; no
 * system call.
 */
void yard_cmd_member_init(struct yard_cmd *cmd, uint32_t type, uint32_t ipv4, uint32_t node,
                          uint64_t seq, uint32_t generation);

/* Punts, dataplane -> control: a control message (kind 1-4) as received. */
#define YARD_PUNT_MAX_BYTES 1480
struct yard_punt {
    uint64_t rx_ns;
    uint32_t src_ipv4; /* network byte order */
    uint16_t src_udp_port;
    uint16_t rx_port;
    uint16_t len;
    uint8_t src_mac[6];                /* the frame's source: where a reply goes on the link */
    uint8_t data[YARD_PUNT_MAX_BYTES]; /* the UDP payload */
};

/*
 * Replies, control -> dataplane: a UDP payload (an ACK or NACK envelope) for
 * the dataplane to send from its data address and port to dst on port
 * tx_port, with dst_mac as the Ethernet destination (the source MAC of the
 * punt it answers, so no ARP is needed).
 */
#define YARD_REPLY_MAX_BYTES 496
struct yard_reply {
    uint32_t dst_ipv4; /* network byte order */
    uint16_t dst_udp_port;
    uint16_t tx_port;
    uint8_t dst_mac[6];
    uint16_t len;
    uint8_t data[YARD_REPLY_MAX_BYTES];
};

struct rte_ring;

/* A mapped segment. */
struct yard_shm {
    struct yard_shm_header *hdr;
    size_t bytes;
    bool writable;
    char name[64]; /* shm object name, "/yard-<instance>" */
};

/*
 * Create (or take over from a dead dataplane) the segment of `instance` and
 * initialise its layout, rings and counters. Refuses, with -EBUSY and a
 * message in err, when another live process is the dataplane of this
 * instance. Returns 0 or a negative errno.
 *
 * A compatible segment whose dataplane is dead is reused in place (never
 * truncated: the control plane may have it mapped): the dataplane's side,
 * counters, port blocks and both rings are reset, the control side is kept.
 * A segment of another magic, ABI version or size is unlinked and created
 * afresh. tsc_hz is left 0 for the caller to set. -EINVAL for an unusable
 * instance name. Called by yard-dataplane once at start-up; it costs a few
 * system calls and zeroing about 3 MB.
 */
int yard_shm_create(struct yard_shm *shm, const char *instance, char *err, size_t errlen);

/*
 * Map an existing segment, read-only or read-write. Checks magic, ABI
 * version and geometry; on a mismatch returns -EPROTO and a message naming
 * both versions. Other results: -ENOENT when the instance has no segment,
 * -EAGAIN while a dataplane is still initialising it (retry), -EINVAL for
 * an unusable instance name, -EACCES and the like from the system. For any
 * process (yard-control, yardctl, tests); no EAL is needed. A few system
 * calls.
 */
int yard_shm_open(struct yard_shm *shm, const char *instance, bool writable, char *err,
                  size_t errlen);

/* Unmap (never unlinks: the other side may still use it). Safe to call
 * twice. */
void yard_shm_close(struct yard_shm *shm);

/* Remove the segment's name (the dataplane's clean shutdown); mappings stay
 * valid. 0, -ENOENT, or -EINVAL for an unusable instance name. */
int yard_shm_unlink(const char *instance);

/* Builds "/yard-<instance>" into buf; -EINVAL if the instance name is unusable. */
int yard_shm_object_name(const char *instance, char *buf, size_t len);

static inline struct yard_lcore_stats *yard_shm_lcore(const struct yard_shm *shm, unsigned lcore)
{
    return (struct yard_lcore_stats *)((char *)shm->hdr + shm->hdr->lcore_off +
                                       (size_t)lcore * shm->hdr->lcore_block_bytes);
}

static inline struct yard_port_stats *yard_shm_port(const struct yard_shm *shm, unsigned port)
{
    return (struct yard_port_stats *)((char *)shm->hdr + shm->hdr->port_off +
                                      (size_t)port * shm->hdr->port_block_bytes);
}

/*
 * The rings. Both are multi-producer, single-consumer (RING_F_SC_DEQ) and
 * hold YARD_SHM_*_SLOTS - 1 records. Use only the _elem functions with the
 * record size, e.g. rte_ring_mp_enqueue_elem(r, &cmd, sizeof(struct
 * yard_cmd)); they are inline and work in a process without an EAL. The
 * command ring's consumer is the dataplane's agent, its producers control
 * planes and yardctl; the punt ring's producers are the dataplane's lcores,
 * its consumer the control plane. The dataplane re-initialises all three
 * rings when it (re)creates the segment: a control plane that sees a new
 * dataplane start epoch must re-send everything (a full sync).
 */
static inline struct rte_ring *yard_shm_cmd_ring(const struct yard_shm *shm)
{
    return (struct rte_ring *)((char *)shm->hdr + shm->hdr->cmd_ring_off);
}

static inline struct rte_ring *yard_shm_punt_ring(const struct yard_shm *shm)
{
    return (struct rte_ring *)((char *)shm->hdr + shm->hdr->punt_ring_off);
}

/* Multi-producer (control planes, tools), single consumer (the agent). */
static inline struct rte_ring *yard_shm_reply_ring(const struct yard_shm *shm)
{
    return (struct rte_ring *)((char *)shm->hdr + shm->hdr->reply_ring_off);
}

/* dst += src: every event, drop and class counter and the histogram. */
void yard_lcore_stats_add(struct yard_lcore_stats *dst, const struct yard_lcore_stats *src);

/*
 * total = the sum of every lcore block in use (zeroed first). Returns how
 * many blocks were summed. Any process; reads single-writer counters.
 */
unsigned yard_shm_lcores_total(const struct yard_shm *shm, struct yard_lcore_stats *total);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t yard_monotonic_ns(void);
uint64_t yard_realtime_ns(void);

/* True when side's pid is alive and its heartbeat is younger than max_age_ns.
 * Any process; one kill(pid, 0) and one clock read. */
bool yard_shm_side_alive(const struct yard_shm_side *side, uint64_t max_age_ns);

#endif
