/*
 * config.h - the appliance's YAML configuration (configs/<name>.yaml).
 *
 * yard_config_load() reads a file with libcyaml, fills defaults and checks
 * every value that can be checked without the machine: ranges, addresses,
 * names, duplicates, mode/lcore consistency. Each problem is reported as
 *   "<file>: <field path>: <value>: <what is wrong>; <how to fix it>"
 * Checks against the running machine (lcores enabled, ports present, NUMA
 * sockets) belong to the dataplane after EAL start-up.
 *
 * Who calls it: the dataplane's main lcore at start-up and on SIGHUP; tools
 * and tests. Not for the hot path.
 */
#ifndef YARD_CONFIG_H
#define YARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define YARD_CONF_MAX_PORTS    32
#define YARD_CONF_MAX_LCORES   128
#define YARD_CONF_MAX_ROUTES   (1u << 20)
#define YARD_CONF_NAME_MAX     63
#define YARD_CONF_INSTANCE_MAX 31

enum yard_mode {
    YARD_MODE_RTC = 0,      /* each worker receives, routes and transmits */
    YARD_MODE_PIPELINE = 1, /* workers route into class rings; tx lcores transmit */
};

struct yard_port_conf {
    char device[64];    /* ethdev name: a --vdev name (net_memif0) or a PCI address */
    uint32_t ipv4;      /* the appliance's address on this port, network byte order */
    uint8_t prefix_len; /* subnet of directly reachable next hops */
    uint32_t gateway;   /* next hop for addresses outside the subnet; 0 = none */
    uint16_t rx_queues; /* default 1 */
    uint16_t rx_desc;   /* default 1024 */
    uint16_t tx_desc;   /* default 1024 */
    uint16_t mtu;       /* 0 = leave the device's default */
    bool promiscuous;   /* default false */
};

struct yard_route_conf {
    char name[YARD_CONF_NAME_MAX + 1]; /* NUL-terminated, 1..63 bytes */
    uint8_t name_len;
    uint32_t ipv4;     /* network byte order */
    uint16_t udp_port; /* host byte order */
    bool has_mac;      /* fixed next-hop MAC: no ARP for this route */
    uint8_t mac[6];
};

/*
 * The control plane's settings (the `control:` section). yard-control reads
 * them from the same file as the dataplane, which checks and ignores them.
 */
struct yard_control_conf {
    char socket[108];           /* management socket path; default /run/yard/<instance>.sock */
    uint32_t socket_mode;       /* its permission bits, 0..0777; default 0660 */
    char state_dir[256];        /* WAL and snapshots; default /var/lib/yard/<instance> */
    bool metrics_enabled;       /* false when metrics_listen is "off" */
    char metrics_listen[32];    /* "ADDR:PORT" as written; default 127.0.0.1:9740 */
    uint32_t metrics_ipv4;      /* its address, network byte order */
    uint16_t metrics_port;      /* its port, host byte order */
    uint32_t lease_ms;          /* registrations' lease, 1000..3600000; default 30000 */
    uint32_t max_lease_ms;      /* longest lease an application may ask for, >= lease_ms;
                                 * default 300000 */
    char node_name[64];         /* this node in the cluster, 1..63 of [A-Za-z0-9_.-];
                                 * default the host name */
    uint64_t wal_compact_bytes; /* WAL size that triggers a snapshot, >= 65536;
                                 * default 67108864 */
};

/*
 * The cluster (the `cluster:` section; absent = a standalone appliance).
 * yard-control runs gossip (memberlist's protocol) on bind; the dataplane
 * checks and ignores the section. Timing fields left at 0 take the
 * profile's value (docs/cluster.md lists them).
 */
#define YARD_CLUSTER_MAX_JOIN 16
#define YARD_CLUSTER_MAX_KEYS 8

struct yard_cluster_conf {
    bool enabled;            /* the section is present */
    uint32_t bind_ipv4;      /* network byte order */
    uint16_t bind_port;      /* default 7946 */
    uint32_t advertise_ipv4; /* 0 = bind_ipv4 */
    uint16_t advertise_port; /* 0 = bind_port */
    unsigned nb_join;        /* seeds, "ADDR:PORT" as checked */
    char join[YARD_CLUSTER_MAX_JOIN][24];
    char profile[8];    /* lan (default), wan or local */
    uint32_t data_ipv4; /* where peers send this node's traffic; 0 = ports[0]'s */
    uint16_t data_port; /* 0 = data_udp_port */
    unsigned nb_keys;   /* AES-GCM keyring, base64 (serf keygen); keys[0] encrypts */
    char keys[YARD_CLUSTER_MAX_KEYS][64];
    uint32_t probe_interval_ms; /* the overrides: 0 = the profile's */
    uint32_t probe_timeout_ms;
    uint32_t gossip_interval_ms;
    uint32_t gossip_nodes;
    uint32_t suspicion_mult;
    uint32_t retransmit_mult;
    uint32_t push_pull_interval_ms;
};

struct yard_config {
    char path[256];
    char instance[YARD_CONF_INSTANCE_MAX + 1]; /* default "default"; [A-Za-z0-9_.-] */
    enum yard_mode mode;                       /* default rtc */
    uint16_t burst;                            /* 1..64, default 32 */
    uint16_t data_udp_port;                    /* default 7400 */
    uint32_t mbufs;                            /* per socket pool, default 16383 */
    uint32_t mbuf_cache;                       /* default 256 */
    uint32_t class_queue_size;                 /* power of two, default 1024 */

    bool idle_backoff;        /* default true; the benchmark profile turns it off */
    uint32_t idle_spin_polls; /* empty polls before sleeping, default 512 */
    uint32_t idle_sleep_us;   /* longest back-off sleep, default 200 */

    unsigned nb_workers;
    unsigned workers[YARD_CONF_MAX_LCORES]; /* lcore ids; empty = every non-main lcore */
    unsigned nb_tx_lcores;
    unsigned tx_lcores[YARD_CONF_MAX_LCORES]; /* pipeline mode only */

    unsigned nb_ports;
    struct yard_port_conf ports[YARD_CONF_MAX_PORTS];

    unsigned nb_routes;
    struct yard_route_conf *routes; /* owned; freed by yard_config_free() */

    uint16_t arp_hold_packets; /* packets held per unresolved next hop, default 4 */
    uint32_t arp_retry_ms;     /* between ARP requests, default 500 */
    uint32_t arp_retries;      /* requests before giving up, default 3 */
    uint32_t neighbor_ttl_s;   /* resolved entries are refreshed after this, default 300 */

    uint32_t directory_capacity;   /* names the directory holds, 1024..16777216, default 65536 */
    uint32_t punt_rate_per_source; /* control messages/s per source, 0 = no limit; default 10000 */
    uint32_t punt_burst;           /* messages a source may send at once, default 1000 */

    struct yard_control_conf control;
    struct yard_cluster_conf cluster;
};

/*
 * Fill every field with its default (no ports, no routes), for instance
 * "default" and the host name as node name.
 */
void yard_config_defaults(struct yard_config *cfg);

/*
 * Load and check `path`. Returns 0, or a negative errno with a one-line
 * message in err (every problem found is reported, joined by "\n").
 * -ENOENT/-EACCES/...: the file cannot be read; -EINVAL: it has problems;
 * -ENOMEM. `cfg` is overwritten (free a previous one first); on failure it
 * holds the defaults and no routes, and yard_config_free() is safe either
 * way, so a reload can load into a fresh struct and swap only on success.
 * When err is too small, the problems that fit are kept and a last line
 * counts the rest. Cost: about 2 us and 300 bytes of transient memory per
 * route (100,000 routes load in about 0.15 s).
 */
int yard_config_load(const char *path, struct yard_config *cfg, char *err, size_t errlen);

/* Same, from a YAML text in memory (tests); `name` is used in messages. */
int yard_config_parse(const char *name, const char *yaml, size_t len, struct yard_config *cfg,
                      char *err, size_t errlen);

void yard_config_free(struct yard_config *cfg);

const char *yard_mode_name(enum yard_mode mode);

/* Parse "xx:xx:xx:xx:xx:xx" (two hex digits per byte) into mac; false for
 * anything else. For every program that takes a MAC: configuration,
 * management API, tools. Pure. */
bool yard_parse_mac(const char *text, uint8_t mac[6]);

#endif
