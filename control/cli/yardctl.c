/*
 * yardctl.c - the operator's CLI: global options, the table of nouns and
 * verbs, and each verb's argument parsing and help.
 *
 * Commands read `yardctl [GLOBAL OPTIONS] NOUN [VERB] [ARGS]`. Parsing
 * lives here and hands plain values to the files that do the work: stats.c
 * and top.c read the shm segment (no daemon needed), remote.c asks
 * yard-control over its socket. Exit codes are the same for every command
 * (see remote.h): 0 success, 1 the daemon or the appliance reported an
 * error, 2 usage error, 3 cannot reach yard-control, 4 timeout; scripts can
 * tell "you typed it wrong" from "it is down" from "it said no".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "stats.h"
#include "top.h"

#define EXIT_USAGE YARD_CLI_EXIT_USAGE

#define DEFAULT_INSTANCE   "default"
#define DEFAULT_SOCKET_DIR "/run/yard"

struct cli {
    const char *instance;
    const char *socket; /* -s; else /run/yard/<instance>.sock */
    enum yard_cli_output output;
    int call_timeout_ms; /* -t: how long to wait for each answer */
    char socket_buf[128];
};

/* Options of verbs, besides -o and -h. */
#define OPT_WAIT    (1u << 0)
#define OPT_LEASE   (1u << 1)
#define OPT_MAC     (1u << 2)
#define OPT_TIMEOUT (1u << 3)

struct verb_opts {
    bool wait;
    bool has_lease;
    uint64_t lease_ms;
    const char *mac;
    uint64_t timeout_ms;
};

/* ---- stats ---- */

static void stats_help(FILE *out)
{
    fprintf(out,
            "usage: yardctl [-i INSTANCE] stats [-o table|json] [--watch SECONDS] [--count N]\n"
            "       yardctl [-s SOCKET] stats get [-o table|json]\n"
            "\n"
            "Counters of a running (or stopped) appliance, read from its shared memory;\n"
            "works with no control plane running.\n"
            "\n"
            "  -o, --output FORMAT  table (default) or json: one object with instance,\n"
            "                       dataplane, control, totals, drops, classes, ports,\n"
            "                       lcores, latency_ns\n"
            "  -w, --watch SECONDS  every SECONDS (fractions allowed) print one line of\n"
            "                       per-second rates: rx messages, routed, tx, dropped with\n"
            "                       the top drop reasons, and latency p50/p99 over the\n"
            "                       interval; with -o json one object per line. Runs until\n"
            "                       SIGINT or SIGTERM\n"
            "  -n, --count N        with --watch, stop after N lines (alone: --watch 1)\n"
            "  -i, --instance NAME  as the global option\n"
            "  -h, --help           this help\n"
            "\n"
            "'yardctl stats get' asks yard-control instead (method stats.get) and prints\n"
            "the daemon's own counters as key: value lines.\n");
}

static int parse_watch(const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !isfinite(v) || v < 0.01 || v > 86400)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_count(const char *arg, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v <= 0)
        return -EINVAL;
    *out = v;
    return 0;
}

/*
 * The options `stats` and `top` (the views from shared memory) share: the
 * refresh interval (--watch for stats, --interval for top; both 'w'),
 * --count and --instance. Returns 0 when c was one of them, 1 when it was
 * not, -1 after printing a usage error.
 */
static int shm_view_opt(int c, const char *prog, const char *interval_flag, double *interval,
                        long *count, const char **instance)
{
    switch (c) {
    case 'w':
        if (parse_watch(optarg, interval) != 0) {
            fprintf(stderr, "%s: %s '%s' is not a number of seconds between 0.01 and 86400\n", prog,
                    interval_flag, optarg);
            return -1;
        }
        return 0;
    case 'n':
        if (parse_count(optarg, count) != 0) {
            fprintf(stderr, "%s: --count '%s' is not a positive integer\n", prog, optarg);
            return -1;
        }
        return 0;
    case 'i':
        *instance = optarg;
        return 0;
    default:
        return 1;
    }
}

/* Neither view takes positional arguments: 0, or -1 after saying so. */
static int no_operands(const char *prog, int argc, char **argv)
{
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; see '%s --help'\n", prog, argv[optind],
                prog);
        return -1;
    }
    return 0;
}

static int parse_output(const char *prog, const char *arg, enum yard_cli_output *out)
{
    if (strcmp(arg, "table") == 0)
        *out = YARD_CLI_OUT_TABLE;
    else if (strcmp(arg, "json") == 0)
        *out = YARD_CLI_OUT_JSON;
    else {
        fprintf(stderr, "%s: output format '%s' is unknown; use table or json\n", prog, arg);
        return -EINVAL;
    }
    return 0;
}

static int run_stats_shm(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"watch", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},  {"instance", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct yard_cli_stats_opts o = {.instance = cli->instance, .output = cli->output};
    char prog[] = "yardctl stats"; /* getopt's own messages name argv[0] */
    argv[0] = prog;
    int c;
    optind = 0; /* glibc: full re-initialisation for the command's own argv */
    while ((c = getopt_long(argc, argv, "o:w:n:i:h", longopts, NULL)) != -1) {
        int mine = shm_view_opt(c, prog, "--watch", &o.watch_s, &o.count, &o.instance);
        if (mine < 0)
            return EXIT_USAGE;
        if (mine == 0)
            continue;
        switch (c) {
        case 'o':
            if (parse_output(prog, optarg, &o.output) != 0)
                return EXIT_USAGE;
            break;
        case 'h':
            stats_help(stdout);
            return 0;
        default:
            fprintf(stderr, "yardctl stats: see 'yardctl stats --help'\n");
            return EXIT_USAGE;
        }
    }
    if (no_operands(prog, argc, argv) != 0)
        return EXIT_USAGE;
    if (o.count > 0 && o.watch_s == 0)
        o.watch_s = 1;
    return yard_cli_stats(&o, stdout, stderr);
}

/* ---- common parsing ---- */

static int parse_u64(const char *arg, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (arg[0] == '-' || arg[0] == '\0')
        return -EINVAL;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "a.b.c.d:port" */
static int parse_addr(const char *arg, struct yard_cli_addr *a)
{
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || (size_t)(colon - arg) >= sizeof(a->ipv4))
        return -EINVAL;
    memcpy(a->ipv4, arg, (size_t)(colon - arg));
    a->ipv4[colon - arg] = '\0';
    struct in_addr in;
    uint64_t port;
    if (inet_pton(AF_INET, a->ipv4, &in) != 1 || parse_u64(colon + 1, 65535, &port) != 0 ||
        port == 0)
        return -EINVAL;
    a->port = (uint16_t)port;
    return 0;
}

static bool mac_ok(const char *s)
{
    unsigned b[6];
    char tail;
    return strlen(s) == 17 && sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                                     &b[4], &b[5], &tail) == 6;
}

/* The socket to use: -s, else the instance's default. 0 or a usage error. */
static int resolve_socket(struct cli *cli)
{
    if (cli->socket != NULL)
        return 0;
    char name[64];
    if (yard_shm_object_name(cli->instance, name, sizeof(name)) != 0) {
        fprintf(stderr,
                "yardctl: instance name '%s' is unusable; use 1 to 31 characters from A-Z a-z "
                "0-9 _ . -\n",
                cli->instance);
        return EXIT_USAGE;
    }
    snprintf(cli->socket_buf, sizeof(cli->socket_buf), DEFAULT_SOCKET_DIR "/%s.sock",
             cli->instance);
    cli->socket = cli->socket_buf;
    return 0;
}

/* ---- verbs ---- */

struct verb {
    const char *name;
    const char *args;    /* after "yardctl NOUN VERB" */
    const char *summary; /* one line */
    const char *details; /* options and result, or NULL */
    const char *method;  /* the RPC method it calls, or NULL */
    unsigned options;    /* OPT_* it accepts besides -o and -h */
    int min_pos, max_pos;
    int (*run)(struct cli *cli, const struct verb *v, char **pos, int npos,
               const struct verb_opts *o);
};

static void verb_help(const char *noun, const struct verb *v, FILE *out)
{
    fprintf(out, "usage: yardctl [-s SOCKET] [-i INSTANCE] %s %s%s%s [-o table|json]\n\n%s\n", noun,
            v->name, v->args[0] ? " " : "", v->args, v->summary);
    if (v->details != NULL)
        fprintf(out, "\n%s", v->details);
    fprintf(out, "\n  -o, --output FORMAT  table (default) or json\n"
                 "  -h, --help           this help\n");
    if (v->method != NULL)
        fprintf(out, "\nCalls %s on yard-control's socket (default %s/INSTANCE.sock).\n", v->method,
                DEFAULT_SOCKET_DIR);
}

/* Parse a verb's options and positional arguments. Returns -1 after
 * printing help (exit 0), EXIT_USAGE, or 0. */
static int parse_verb(struct cli *cli, const char *noun, const struct verb *v, int argc,
                      char **argv, struct verb_opts *o, char ***pos, int *npos)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"wait", no_argument, NULL, 'W'},
        {"lease-ms", required_argument, NULL, 'L'},
        {"mac", required_argument, NULL, 'M'},
        {"timeout-ms", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    char prog[64];
    snprintf(prog, sizeof(prog), "yardctl %s %s", noun, v->name);
    memset(o, 0, sizeof(*o));
    o->timeout_ms = YARD_CLI_WAIT_TIMEOUT_MS;
    argv[0] = prog;
    optind = 0;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        unsigned need = c == 'W'   ? OPT_WAIT
                        : c == 'L' ? OPT_LEASE
                        : c == 'M' ? OPT_MAC
                        : c == 'T' ? OPT_TIMEOUT
                                   : 0;
        if (need != 0 && !(v->options & need)) {
            fprintf(stderr, "%s: option '%s' does not apply here; see '%s --help'\n", prog,
                    argv[optind - 1], prog);
            return EXIT_USAGE;
        }
        switch (c) {
        case 'o':
            if (parse_output(prog, optarg, &cli->output) != 0)
                return EXIT_USAGE;
            break;
        case 'h':
            verb_help(noun, v, stdout);
            return -1;
        case 'W':
            o->wait = true;
            break;
        case 'L':
            if (parse_u64(optarg, UINT32_MAX, &o->lease_ms) != 0 || o->lease_ms == 0) {
                fprintf(stderr, "%s: --lease-ms '%s' is not a positive number of milliseconds\n",
                        prog, optarg);
                return EXIT_USAGE;
            }
            o->has_lease = true;
            break;
        case 'M':
            if (!mac_ok(optarg)) {
                fprintf(stderr, "%s: --mac '%s' is not a MAC address like 02:00:5e:00:00:01\n",
                        prog, optarg);
                return EXIT_USAGE;
            }
            o->mac = optarg;
            break;
        case 'T':
            if (parse_u64(optarg, 3600000, &o->timeout_ms) != 0) {
                fprintf(stderr,
                        "%s: --timeout-ms '%s' is not a number of milliseconds up to "
                        "3600000\n",
                        prog, optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            fprintf(stderr, "%s: see '%s --help'\n", prog, prog);
            return EXIT_USAGE;
        }
    }
    *pos = argv + optind;
    *npos = argc - optind;
    if (*npos < v->min_pos || *npos > v->max_pos) {
        fprintf(stderr, "%s: %s; usage: %s %s\n", prog,
                *npos < v->min_pos ? "missing arguments" : "too many arguments", prog, v->args);
        return EXIT_USAGE;
    }
    return 0;
}

static struct yard_cli_remote remote_of(const struct cli *cli)
{
    struct yard_cli_remote r = {
        .socket_path = cli->socket, .output = cli->output, .timeout_ms = cli->call_timeout_ms};
    return r;
}

static int v_status(struct cli *cli, const struct verb *v, char **pos, int npos,
                    const struct verb_opts *o)
{
    (void)v, (void)pos, (void)npos, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_status(&r);
}

static int v_endpoints_list(struct cli *cli, const struct verb *v, char **pos, int npos,
                            const struct verb_opts *o)
{
    (void)v, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_endpoints_list(&r, npos > 0 ? pos[0] : NULL);
}

static int v_members_list(struct cli *cli, const struct verb *v, char **pos, int npos,
                          const struct verb_opts *o)
{
    (void)v, (void)pos, (void)npos, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_members_list(&r);
}

static int bad_addr(const char *noun, const char *verb, const char *arg)
{
    fprintf(stderr, "yardctl %s %s: '%s' is not IPV4:PORT (e.g. 198.18.0.10:9000, port 1-65535)\n",
            noun, verb, arg);
    return EXIT_USAGE;
}

static int v_endpoints_add(struct cli *cli, const struct verb *v, char **pos, int npos,
                           const struct verb_opts *o)
{
    (void)npos;
    struct yard_cli_addr a;
    if (parse_addr(pos[1], &a) != 0)
        return bad_addr("endpoints", v->name, pos[1]);
    struct yard_cli_remote r = remote_of(cli);
    struct yard_cli_wait w = {o->wait, o->timeout_ms};
    return yard_cli_endpoints_add(&r, pos[0], &a, o->has_lease ? &o->lease_ms : NULL, &w);
}

static int v_endpoints_del(struct cli *cli, const struct verb *v, char **pos, int npos,
                           const struct verb_opts *o)
{
    struct yard_cli_addr a;
    if (npos > 1 && parse_addr(pos[1], &a) != 0)
        return bad_addr("endpoints", v->name, pos[1]);
    struct yard_cli_remote r = remote_of(cli);
    struct yard_cli_wait w = {o->wait, o->timeout_ms};
    return yard_cli_endpoints_del(&r, pos[0], npos > 1 ? &a : NULL, &w);
}

static int v_topics_list(struct cli *cli, const struct verb *v, char **pos, int npos,
                         const struct verb_opts *o)
{
    (void)v, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_topics_list(&r, npos > 0 ? pos[0] : NULL);
}

static int v_routes_list(struct cli *cli, const struct verb *v, char **pos, int npos,
                         const struct verb_opts *o)
{
    (void)v, (void)pos, (void)npos, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_routes_list(&r);
}

static int v_routes_add(struct cli *cli, const struct verb *v, char **pos, int npos,
                        const struct verb_opts *o)
{
    (void)npos;
    struct yard_cli_addr a;
    if (parse_addr(pos[1], &a) != 0)
        return bad_addr("routes", v->name, pos[1]);
    struct yard_cli_remote r = remote_of(cli);
    struct yard_cli_wait w = {o->wait, o->timeout_ms};
    return yard_cli_routes_add(&r, pos[0], &a, o->mac, &w);
}

static int v_routes_del(struct cli *cli, const struct verb *v, char **pos, int npos,
                        const struct verb_opts *o)
{
    (void)v, (void)npos;
    struct yard_cli_remote r = remote_of(cli);
    struct yard_cli_wait w = {o->wait, o->timeout_ms};
    return yard_cli_routes_del(&r, pos[0], &w);
}

static int v_config_get(struct cli *cli, const struct verb *v, char **pos, int npos,
                        const struct verb_opts *o)
{
    (void)v, (void)pos, (void)npos, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_config_get(&r);
}

static int v_stats_get(struct cli *cli, const struct verb *v, char **pos, int npos,
                       const struct verb_opts *o)
{
    (void)v, (void)pos, (void)npos, (void)o;
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_stats_get(&r);
}

static int v_wait_applied(struct cli *cli, const struct verb *v, char **pos, int npos,
                          const struct verb_opts *o)
{
    (void)npos;
    uint64_t seq;
    if (parse_u64(pos[0], UINT64_MAX, &seq) != 0) {
        fprintf(stderr, "yardctl wait %s: '%s' is not a sequence number\n", v->name, pos[0]);
        return EXIT_USAGE;
    }
    struct yard_cli_remote r = remote_of(cli);
    return yard_cli_wait_applied(&r, seq, o->timeout_ms);
}

#define WAIT_HELP                                                                   \
    "  --wait               then wait until the dataplane applied the change\n"     \
    "                       (wait.applied with the returned seq)\n"                 \
    "  --timeout-ms N       how long --wait waits (default 5000); exit 4 when it\n" \
    "                       runs out\n"

static const struct verb status_verbs[] = {
    {"get", "", "Health of yard-control and the dataplane, directory sizes and sync state.",
     "Prints instance, node, version, control (pid, uptime, state dir, WAL), dataplane\n"
     "(state up/down/absent, pid, heartbeat age, generation, applied seq, ready),\n"
     "directory counts, and whether the dataplane has every change (synced).\n",
     "status.get", 0, 0, 0, v_status},
};

static const struct verb endpoints_verbs[] = {
    {"list", "[PREFIX]",
     "List endpoints and groups (names starting with PREFIX) and their locations.",
     "Columns: NAME KIND IPV4 PORT ORIGIN NODE LEASE. ORIGIN is static, registered\n"
     "or remote; LEASE is the time left on a registration's lease.\n",
     "endpoints.list", 0, 0, 1, v_endpoints_list},
    {"add", "NAME IPV4:PORT [--lease-ms N] [--wait]",
     "Add a location to endpoint NAME (a second location makes it a group).",
     "  --lease-ms N         expire the location after N ms unless renewed\n" WAIT_HELP,
     "endpoints.add", OPT_WAIT | OPT_LEASE | OPT_TIMEOUT, 2, 2, v_endpoints_add},
    {"del", "NAME [IPV4:PORT] [--wait]", "Remove one location of endpoint NAME, or all of them.",
     WAIT_HELP, "endpoints.del", OPT_WAIT | OPT_TIMEOUT, 1, 2, v_endpoints_del},
};

static const struct verb members_verbs[] = {
    {"list", "", "List the cluster's members as this node's gossip sees them.",
     "Columns: NAME ADDRESS STATE INCARNATION ROLE DATA NAMES. ADDRESS is the gossip\n"
     "address, STATE alive, suspect, dead or left; ROLE switchyard for appliances\n"
     "(DATA: where their traffic goes, NAMES: how many names they host) and other\n"
     "for serf agents and plain memberlist peers.\n",
     "members.list", 0, 0, 0, v_members_list},
};

static const struct verb topics_verbs[] = {
    {"list", "[PREFIX]", "List topics (names starting with PREFIX) and their subscribers.",
     "Columns: TOPIC SUBSCRIBER IPV4 PORT NODE LEASE.\n", "topics.list", 0, 0, 1, v_topics_list},
};

static const struct verb routes_verbs[] = {
    {"list", "", "List static routes: names sent to a fixed next hop.",
     "Columns: NAME IPV4 PORT MAC ORIGIN (config or api); MAC - means resolved by ARP.\n",
     "routes.list", 0, 0, 0, v_routes_list},
    {"add", "NAME IPV4:PORT [--mac MAC] [--wait]", "Route name NAME to IPV4:PORT.",
     "  --mac MAC            next hop's MAC (default: resolved by ARP)\n" WAIT_HELP, "routes.add",
     OPT_WAIT | OPT_MAC | OPT_TIMEOUT, 2, 2, v_routes_add},
    {"del", "NAME [--wait]", "Remove the static route of NAME.", WAIT_HELP, "routes.del",
     OPT_WAIT | OPT_TIMEOUT, 1, 1, v_routes_del},
};

static const struct verb config_verbs[] = {
    {"get", "", "The configuration yard-control runs with, as key: value lines.", NULL,
     "config.get", 0, 0, 0, v_config_get},
};

static const struct verb stats_verbs[] = {
    {"get", "", "yard-control's own counters (RPC, WAL, directory, sync), as key: value lines.",
     NULL, "stats.get", 0, 0, 0, v_stats_get},
};

static const struct verb wait_verbs[] = {
    {"applied", "SEQ [--timeout-ms N]",
     "Wait until the dataplane has applied change SEQ (the seq a change returned).",
     "  --timeout-ms N       give up after N ms (default 5000): exit 4\n", "wait.applied",
     OPT_TIMEOUT, 1, 1, v_wait_applied},
};

/* ---- nouns ---- */

struct noun {
    const char *name;
    const char *summary;
    const struct verb *verbs;
    unsigned nb_verbs;
    /* What the noun alone does (stats, top, status), or NULL: a verb is needed. */
    int (*bare)(struct cli *cli, int argc, char **argv);
    void (*bare_help)(FILE *out);
};

static int run_status_bare(struct cli *cli, int argc, char **argv)
{
    struct verb_opts o;
    char **pos;
    int npos;
    int rc = parse_verb(cli, "status", &status_verbs[0], argc, argv, &o, &pos, &npos);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = resolve_socket(cli)) != 0)
        return rc;
    return v_status(cli, &status_verbs[0], pos, npos, &o);
}

static void status_help(FILE *out)
{
    verb_help("status", &status_verbs[0], out);
}

static void top_help(FILE *out)
{
    fprintf(out, "usage: yardctl [-i INSTANCE] top [--interval SECONDS] [--count N]\n"
                 "\n"
                 "A live view of the appliance from its shared memory (no control plane\n"
                 "needed), refreshed every interval: per-second rates in total and per class\n"
                 "(routed, tx, dropped), drop reasons with their rates, latency p50/p90/p99/max\n"
                 "over the last interval, per-lcore busy %%, and the dataplane's heartbeat.\n"
                 "On a terminal it redraws the screen; q or Ctrl-C quits. Otherwise it prints\n"
                 "plain frames one after another.\n"
                 "\n"
                 "  --interval SECONDS   between refreshes (default 1; fractions allowed)\n"
                 "  -n, --count N        stop after N frames\n"
                 "  -i, --instance NAME  as the global option\n"
                 "  -h, --help           this help\n");
}

static int run_top(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interval", required_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},
        {"instance", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct yard_cli_top_opts o = {.instance = cli->instance, .interval_s = 1};
    char prog[] = "yardctl top";
    argv[0] = prog;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "n:i:h", longopts, NULL)) != -1) {
        int mine = shm_view_opt(c, prog, "--interval", &o.interval_s, &o.count, &o.instance);
        if (mine < 0)
            return EXIT_USAGE;
        if (mine == 0)
            continue;
        switch (c) {
        case 'h':
            top_help(stdout);
            return 0;
        default:
            fprintf(stderr, "yardctl top: see 'yardctl top --help'\n");
            return EXIT_USAGE;
        }
    }
    if (no_operands(prog, argc, argv) != 0)
        return EXIT_USAGE;
    return yard_cli_top(&o, stdout, stderr);
}

static int run_help(struct cli *cli, int argc, char **argv);
static void help_help(FILE *out)
{
    fprintf(out, "usage: yardctl help [NOUN [VERB]]\n");
}

#define VERBS(v) v, sizeof(v) / sizeof(v[0])

static const struct noun nouns[] = {
    {"status", "health of yard-control and the dataplane (status.get)", NULL, 0, run_status_bare,
     status_help},
    {"endpoints", "list, add and delete endpoints and their locations", VERBS(endpoints_verbs),
     NULL, NULL},
    {"topics", "list topics and their subscribers", VERBS(topics_verbs), NULL, NULL},
    {"members", "list the cluster's members", VERBS(members_verbs), NULL, NULL},
    {"routes", "list, add and delete static routes", VERBS(routes_verbs), NULL, NULL},
    {"config", "show the running configuration", VERBS(config_verbs), NULL, NULL},
    {"stats",
     "counters, drops, ports, lcores and latency, from shared memory; 'stats get' "
     "for the daemon's",
     VERBS(stats_verbs), run_stats_shm, stats_help},
    {"top", "live per-second view from shared memory", NULL, 0, run_top, top_help},
    {"wait", "wait until the dataplane applied a change", VERBS(wait_verbs), NULL, NULL},
    {"help", "help on yardctl, a noun or a verb", NULL, 0, run_help, help_help},
};

static const struct noun *find_noun(const char *name)
{
    for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++)
        if (strcmp(nouns[i].name, name) == 0)
            return &nouns[i];
    return NULL;
}

static const struct verb *find_verb(const struct noun *n, const char *name)
{
    for (unsigned i = 0; i < n->nb_verbs; i++)
        if (strcmp(n->verbs[i].name, name) == 0)
            return &n->verbs[i];
    return NULL;
}

static void noun_help(const struct noun *n, FILE *out)
{
    if (n->bare_help != NULL) {
        n->bare_help(out);
        if (n->nb_verbs == 0)
            return;
        fputc('\n', out);
    } else {
        fprintf(out, "usage: yardctl [-s SOCKET] [-i INSTANCE] %s VERB [ARGS] [-o table|json]\n\n",
                n->name);
    }
    fprintf(out, "Verbs:\n");
    for (unsigned i = 0; i < n->nb_verbs; i++)
        fprintf(out, "  %s %s %s\n      %s\n", n->name, n->verbs[i].name, n->verbs[i].args,
                n->verbs[i].summary);
    fprintf(out, "\n'yardctl %s VERB --help' for a verb.\n", n->name);
}

static void program_help(FILE *out)
{
    fprintf(out,
            "usage: yardctl [-s SOCKET] [-i INSTANCE] [-o table|json] [-t MS] NOUN [VERB] [ARGS]\n"
            "\n"
            "Operate a Switchyard appliance.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++) {
        const struct noun *n = &nouns[i];
        fprintf(out, "  %-10s %s\n", n->name, n->summary);
        if (n->nb_verbs > 0) {
            fprintf(out, "  %-10s   verbs:", "");
            for (unsigned k = 0; k < n->nb_verbs; k++)
                fprintf(out, " %s", n->verbs[k].name);
            fputc('\n', out);
        }
    }
    fprintf(out,
            "\n"
            "Options:\n"
            "  -s, --socket PATH    yard-control's socket (default %s/INSTANCE.sock)\n"
            "  -i, --instance NAME  appliance instance (default: $YARD_INSTANCE, else '%s');\n"
            "                       also selects the shared memory of stats and top\n"
            "  -o, --output FORMAT  table (default) or json\n"
            "  -t, --call-timeout MS  wait at most MS for each answer (default %d)\n"
            "  -h, --help           this help; 'yardctl NOUN --help', 'yardctl NOUN VERB --help'\n"
            "\n"
            "Exit status: 0 success, 1 the appliance reported an error, 2 usage error,\n"
            "3 cannot reach yard-control, 4 timeout.\n",
            DEFAULT_SOCKET_DIR, DEFAULT_INSTANCE, YARD_CLI_RPC_TIMEOUT_MS);
}

static int run_help(struct cli *cli, int argc, char **argv)
{
    (void)cli;
    if (argc < 2) {
        program_help(stdout);
        return 0;
    }
    const struct noun *n = find_noun(argv[1]);
    if (n == NULL) {
        fprintf(stderr, "yardctl: no command '%s'; see 'yardctl --help'\n", argv[1]);
        return EXIT_USAGE;
    }
    if (argc < 3) {
        noun_help(n, stdout);
        return 0;
    }
    const struct verb *v = find_verb(n, argv[2]);
    if (v == NULL) {
        fprintf(stderr, "yardctl: %s has no verb '%s'; see 'yardctl %s --help'\n", n->name, argv[2],
                n->name);
        return EXIT_USAGE;
    }
    verb_help(n->name, v, stdout);
    return 0;
}

/* NOUN [VERB] [ARGS]: argv[0] is the noun. */
static int run_noun(struct cli *cli, const struct noun *n, int argc, char **argv)
{
    const char *next = argc > 1 ? argv[1] : NULL;
    const struct verb *v = next != NULL ? find_verb(n, next) : NULL;
    if (v != NULL) {
        struct verb_opts o;
        char **pos;
        int npos;
        int rc = parse_verb(cli, n->name, v, argc - 1, argv + 1, &o, &pos, &npos);
        if (rc != 0)
            return rc < 0 ? 0 : rc;
        if (v->method != NULL && (rc = resolve_socket(cli)) != 0)
            return rc;
        return v->run(cli, v, pos, npos, &o);
    }
    if (next != NULL && (strcmp(next, "-h") == 0 || strcmp(next, "--help") == 0)) {
        noun_help(n, stdout);
        return 0;
    }
    if (n->bare != NULL)
        return n->bare(cli, argc, argv);
    if (next == NULL)
        fprintf(stderr, "yardctl %s: which verb?", n->name);
    else
        fprintf(stderr, "yardctl %s: no verb '%s';", n->name, next);
    fprintf(stderr, " use one of");
    for (unsigned i = 0; i < n->nb_verbs; i++)
        fprintf(stderr, " %s", n->verbs[i].name);
    fprintf(stderr, " (see 'yardctl %s --help')\n", n->name);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},       {"instance", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},       {"help", no_argument, NULL, 'h'},
        {"call-timeout", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
    };
    struct cli cli = {.output = YARD_CLI_OUT_TABLE, .call_timeout_ms = YARD_CLI_RPC_TIMEOUT_MS};
    uint64_t ms;
    cli.instance = getenv("YARD_INSTANCE");
    if (cli.instance == NULL || cli.instance[0] == '\0')
        cli.instance = DEFAULT_INSTANCE;

    int c;
    /* '+': stop at the noun; what follows is the command's. */
    while ((c = getopt_long(argc, argv, "+s:i:o:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_u64(optarg, 3600000, &ms) != 0 || ms == 0) {
                fprintf(stderr,
                        "yardctl: --call-timeout '%s' is not a number of milliseconds "
                        "from 1 to 3600000\n",
                        optarg);
                return EXIT_USAGE;
            }
            cli.call_timeout_ms = (int)ms;
            break;
        case 's':
            cli.socket = optarg;
            break;
        case 'i':
            cli.instance = optarg;
            break;
        case 'o':
            if (parse_output("yardctl", optarg, &cli.output) != 0)
                return EXIT_USAGE;
            break;
        case 'h':
            program_help(stdout);
            return 0;
        default:
            fprintf(stderr, "yardctl: see 'yardctl --help'\n");
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        program_help(stderr);
        return EXIT_USAGE;
    }
    const struct noun *n = find_noun(argv[optind]);
    if (n == NULL) {
        fprintf(stderr, "yardctl: no command '%s'; see 'yardctl --help'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return run_noun(&cli, n, argc - optind, argv + optind);
}
