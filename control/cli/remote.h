/*
 * remote.h - the yardctl commands that ask yard-control over its
 * management socket (msgpack-RPC, PROTOCOL.md section 2): one function per
 * command, taking parsed arguments, calling the method and printing its
 * result as a table or as JSON.
 *
 * Exit codes, the same for every command: 0 success; 1 the daemon answered
 * with an error (printed as "yardctl: METHOD: MESSAGE (code N)"), or its
 * answer was unusable; 2 usage error (from the parser, never here); 3
 * cannot reach yard-control (no socket, nobody listening, permission
 * denied, connection lost); 4 timeout (no answer in time, or the daemon's
 * own wait ran out: error code 4). Called once per process, from main().
 */
#ifndef YARD_CLI_REMOTE_H
#define YARD_CLI_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

#define YARD_CLI_EXIT_OK      0
#define YARD_CLI_EXIT_DAEMON  1
#define YARD_CLI_EXIT_USAGE   2
#define YARD_CLI_EXIT_CONNECT 3
#define YARD_CLI_EXIT_TIMEOUT 4

/* Default wait for an answer, and for --wait. */
#define YARD_CLI_RPC_TIMEOUT_MS  10000
#define YARD_CLI_WAIT_TIMEOUT_MS 5000

struct yard_cli_remote {
    const char *socket_path;
    enum yard_cli_output output;
    int timeout_ms; /* for each call, besides a wait's own time */
};

/* A location argument: IPv4 in dotted form and a UDP port. */
struct yard_cli_addr {
    char ipv4[16];
    uint16_t port;
};

struct yard_cli_wait {
    bool wait;           /* after a change, wait until the dataplane applied it */
    uint64_t timeout_ms; /* for that wait */
};

int yard_cli_status(const struct yard_cli_remote *r);
int yard_cli_endpoints_list(const struct yard_cli_remote *r, const char *prefix);
int yard_cli_endpoints_add(const struct yard_cli_remote *r, const char *name,
                           const struct yard_cli_addr *addr, const uint64_t *lease_ms,
                           const struct yard_cli_wait *w);
/* addr NULL removes every location of the name. */
int yard_cli_endpoints_del(const struct yard_cli_remote *r, const char *name,
                           const struct yard_cli_addr *addr, const struct yard_cli_wait *w);
int yard_cli_topics_list(const struct yard_cli_remote *r, const char *prefix);
int yard_cli_routes_list(const struct yard_cli_remote *r);
int yard_cli_members_list(const struct yard_cli_remote *r);
/* mac NULL: resolved by ARP. */
int yard_cli_routes_add(const struct yard_cli_remote *r, const char *name,
                        const struct yard_cli_addr *addr, const char *mac,
                        const struct yard_cli_wait *w);
int yard_cli_routes_del(const struct yard_cli_remote *r, const char *name,
                        const struct yard_cli_wait *w);
int yard_cli_config_get(const struct yard_cli_remote *r);
int yard_cli_stats_get(const struct yard_cli_remote *r);
int yard_cli_wait_applied(const struct yard_cli_remote *r, uint64_t seq, uint64_t timeout_ms);

#endif
