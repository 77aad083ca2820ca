/*
 * loadgen_opts.c - yard-loadgen's command line: defaults, parsing, --help.
 *
 * Kept apart from the DPDK code because two modes (--emit-routes,
 * --write-pcap) must be decided before EAL start-up: they run without
 * hugepages.
 */
#include "config.h"
#include "loadgen.h"
#include "names.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void defaults(struct yard_lg_opts *o)
{
    memset(o, 0, sizeof(*o));
    inet_pton(AF_INET, "198.18.0.2", &o->src_ip);
    inet_pton(AF_INET, "198.18.0.1", &o->router_ip);
    o->src_port = 7500;
    o->router_port = 7400;
    snprintf(o->src_name, sizeof(o->src_name), "yard-loadgen");
    o->ttl = 16;
    o->names = 1000;
    o->max_name_len = YARD_BENCH_NAME_MAX;
    const unsigned mix[YARD_LG_CLASSES] = {5, 15, 60, 20};
    memcpy(o->class_weight, mix, sizeof(mix));
    o->body_sizes[0] = 16;
    o->body_sizes[1] = 64;
    o->body_sizes[2] = 200;
    o->nb_body_sizes = 3;
    o->rate_pps = 1000000;
    o->burst = 32;
    o->interval_s = 1.0;
    o->drain_s = 0.2;
    o->link_timeout_s = 10.0;
    o->seed = 1;
    o->frames = 512;
    o->frame_size = 64;
    o->kind = YARD_LG_KIND_MSG;
    snprintf(o->reg_prefix, sizeof(o->reg_prefix), "reg.");
    o->subscribers = 1;
}

void yard_lg_usage(FILE *out, const char *prog)
{
    fprintf(
        out,
        "usage: %s [EAL args] -- [options]\n"
        "       %s --emit-routes --src-mac MAC [options]\n"
        "       %s --write-pcap FILE [--frames K] [--frame-size F] [options]\n"
        "\n"
        "Sends message envelopes (PROTOCOL.md section 1) to a Switchyard router from one\n"
        "worker lcore, receives the ones routed back to --src-ip:--src-port on the same\n"
        "lcore and reports rates, losses and round-trip times. The main lcore only\n"
        "reports; give the worker a core of its own, away from the router's workers.\n"
        "\n"
        "Addresses:\n"
        "  --port DEV            ethdev name, e.g. net_memif0 (default: the first port)\n"
        "  --src-ip A.B.C.D      our address (default 198.18.0.2)\n"
        "  --src-port N          our UDP port; routed messages come back here (default 7500)\n"
        "  --src-mac MAC         our MAC for --emit-routes without EAL\n"
        "  --router-ip A.B.C.D   the router's data address (default 198.18.0.1)\n"
        "  --router-mac MAC      the router port's MAC (required for sending)\n"
        "  --router-port N       the router's UDP port (default 7400)\n"
        "Messages:\n"
        "  --names N             destinations are names 0..N-1 (default 1000)\n"
        "  --max-name-len L      longest name, 1..63 (default 63)\n"
        "  --unknown-pct P       percent sent to names without a route (default 0)\n"
        "  --class-mix a,b,c,d   weights of priority classes 0..3 (default 5,15,60,20)\n"
        "  --body-sizes s1,...   body sizes, picked uniformly (default 16,64,200)\n"
        "  --src-name NAME       the envelopes' src (default yard-loadgen)\n"
        "  --ttl N               the envelopes' ttl, 2..64 (default 16)\n"
        "  --seed N              the mix's random seed (default 1)\n"
        "  --topic NAME          send every message to NAME (a topic) instead of names\n"
        "  --dst-prefix PREFIX   destinations are PREFIX0 .. PREFIX<N-1> (--names N)\n"
        "                        instead of names 0..N-1, e.g. names made with the API\n"
        "  --subscribers K       with --topic: the topic's K subscribers are this address\n"
        "                        on UDP ports --src-port .. --src-port + K - 1 (1..%u);\n"
        "                        K copies of each message are expected back\n"
        "Registrations:\n"
        "  --kind msg|register   what to send (default msg). register: REGISTER envelopes\n"
        "                        (kind 1) from --src-ip:--src-port for names PREFIX0 ..\n"
        "                        PREFIX<N-1> (--names N, in order, then again), counting\n"
        "                        the ACKs and NACKs that come back; their id echoes ours,\n"
        "                        so round trips are timed as for messages\n"
        "  --reg-prefix PREFIX   the names' prefix (default reg.)\n"
        "  --lease-ms N          ask for this lease in the body (default: empty body, the\n"
        "                        router's default lease)\n"
        "Run:\n"
        "  --rate PPS|max        messages per second (default 1000000); 'max' sends as\n"
        "                        fast as the port takes them\n"
        "  --duration S          stop sending after S seconds (default: at SIGINT)\n"
        "  --burst N             frames per tx_burst, 1..256 (default 32)\n"
        "  --interval S          seconds between progress lines (default 1)\n"
        "  --drain-ms MS         keep receiving after the last send (default 200)\n"
        "  --link-timeout S      wait for the port's link (default 10)\n"
        "  --idle-sleep-us N     sleep N us after 64 loops that neither sent nor received\n"
        "                        (default 0: spin); for sharing a core at modest rates\n"
        "  --json                the final summary as one JSON object on stdout;\n"
        "                        progress lines go to stderr\n"
        "Without EAL:\n"
        "  --emit-routes         print YAML 'routes:' entries for names 0..N-1 pointing to\n"
        "                        --src-ip:--src-port, mac = --src-mac (or the port's MAC\n"
        "                        when EAL args are given), and exit; with --frame-size F\n"
        "                        the names are those --write-pcap puts in F-byte frames\n"
        "  --write-pcap FILE     write --frames K frames of exactly --frame-size F bytes\n"
        "                        (61..1514, default 512 x 64) to a classic pcap file and\n"
        "                        exit; bodies pad each frame, names are the ones that fit\n"
        "  --help                this text\n"
        "\n"
        "Example, with yard-dataplane serving memif on the other core:\n"
        "  %s --lcores 0@1,1@0 --main-lcore 0 --no-pci --file-prefix lg -m 256 \\\n"
        "      --vdev net_memif0,role=client,socket=/run/yard/dp.sock,mac=02:59:41:52:44:02 \\\n"
        "      -- --router-mac 02:59:41:52:44:01 --rate 2000000 --duration 10\n",
        prog, prog, prog, YARD_LG_MAX_SUBSCRIBERS, prog);
}

void yard_lg_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v;
    int rc = parse_u64(s, min, max, &v);
    if (rc == 0)
        *out = (unsigned)v;
    return rc;
}

static int parse_seconds(const char *s, double min, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "a,b,c": up to max unsigned values in [min, maxv]. */
static int parse_list(const char *s, unsigned min, unsigned maxv, unsigned *v, unsigned max,
                      unsigned *n)
{
    char buf[256];
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max || parse_uint(tok, min, maxv, &v[*n]) < 0)
            return -EINVAL;
        (*n)++;
    }
    return *n ? 0 : -EINVAL;
}

enum {
    OPT_PORT = 256,
    OPT_SRC_IP,
    OPT_SRC_PORT,
    OPT_SRC_MAC,
    OPT_ROUTER_IP,
    OPT_ROUTER_MAC,
    OPT_ROUTER_PORT,
    OPT_NAMES,
    OPT_MAX_NAME_LEN,
    OPT_UNKNOWN_PCT,
    OPT_CLASS_MIX,
    OPT_BODY_SIZES,
    OPT_SRC_NAME,
    OPT_TTL,
    OPT_SEED,
    OPT_RATE,
    OPT_DURATION,
    OPT_BURST,
    OPT_INTERVAL,
    OPT_DRAIN_MS,
    OPT_LINK_TIMEOUT,
    OPT_JSON,
    OPT_EMIT_ROUTES,
    OPT_WRITE_PCAP,
    OPT_FRAMES,
    OPT_FRAME_SIZE,
    OPT_KIND,
    OPT_REG_PREFIX,
    OPT_LEASE_MS,
    OPT_TOPIC,
    OPT_SUBSCRIBERS,
    OPT_IDLE_SLEEP_US,
    OPT_DST_PREFIX,
    OPT_HELP,
};

static const struct option longopts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"src-ip", required_argument, NULL, OPT_SRC_IP},
    {"src-port", required_argument, NULL, OPT_SRC_PORT},
    {"src-mac", required_argument, NULL, OPT_SRC_MAC},
    {"router-ip", required_argument, NULL, OPT_ROUTER_IP},
    {"router-mac", required_argument, NULL, OPT_ROUTER_MAC},
    {"router-port", required_argument, NULL, OPT_ROUTER_PORT},
    {"names", required_argument, NULL, OPT_NAMES},
    {"max-name-len", required_argument, NULL, OPT_MAX_NAME_LEN},
    {"unknown-pct", required_argument, NULL, OPT_UNKNOWN_PCT},
    {"class-mix", required_argument, NULL, OPT_CLASS_MIX},
    {"body-sizes", required_argument, NULL, OPT_BODY_SIZES},
    {"src-name", required_argument, NULL, OPT_SRC_NAME},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"burst", required_argument, NULL, OPT_BURST},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
    {"link-timeout", required_argument, NULL, OPT_LINK_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"emit-routes", no_argument, NULL, OPT_EMIT_ROUTES},
    {"write-pcap", required_argument, NULL, OPT_WRITE_PCAP},
    {"frames", required_argument, NULL, OPT_FRAMES},
    {"frame-size", required_argument, NULL, OPT_FRAME_SIZE},
    {"kind", required_argument, NULL, OPT_KIND},
    {"reg-prefix", required_argument, NULL, OPT_REG_PREFIX},
    {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"subscribers", required_argument, NULL, OPT_SUBSCRIBERS},
    {"idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP_US},
    {"dst-prefix", required_argument, NULL, OPT_DST_PREFIX},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Apply one option; returns 0 or -EINVAL with the reason in *why. */
static int apply(int opt, const char *arg, struct yard_lg_opts *o, const char **why)
{
    unsigned n;
    switch (opt) {
    case OPT_PORT:
        if (strlen(arg) >= sizeof(o->port))
            return *why = "an ethdev name is shorter than 64 bytes", -EINVAL;
        snprintf(o->port, sizeof(o->port), "%s", arg);
        return 0;
    case OPT_SRC_IP:
        return inet_pton(AF_INET, arg, &o->src_ip) == 1 ? 0 : (*why = "expected A.B.C.D", -EINVAL);
    case OPT_ROUTER_IP:
        return inet_pton(AF_INET, arg, &o->router_ip) == 1 ? 0
                                                           : (*why = "expected A.B.C.D", -EINVAL);
    case OPT_SRC_PORT:
    case OPT_ROUTER_PORT:
        if (parse_uint(arg, 1, 65535, &n) < 0)
            return *why = "expected a UDP port 1..65535", -EINVAL;
        *(opt == OPT_SRC_PORT ? &o->src_port : &o->router_port) = (uint16_t)n;
        return 0;
    case OPT_SRC_MAC:
        o->src_mac_set = true;
        return yard_parse_mac(arg, o->src_mac) ? 0 : (*why = "expected xx:xx:xx:xx:xx:xx", -EINVAL);
    case OPT_ROUTER_MAC:
        o->router_mac_set = true;
        return yard_parse_mac(arg, o->router_mac) ? 0
                                                  : (*why = "expected xx:xx:xx:xx:xx:xx", -EINVAL);
    case OPT_NAMES:
        return parse_uint(arg, 1, 1u << 22, &o->names) == 0
                   ? 0
                   : (*why = "expected 1..4194304", -EINVAL);
    case OPT_MAX_NAME_LEN:
        return parse_uint(arg, 1, YARD_BENCH_NAME_MAX, &o->max_name_len) == 0
                   ? 0
                   : (*why = "names are 1..63 bytes (PROTOCOL.md section 1)", -EINVAL);
    case OPT_UNKNOWN_PCT:
        return parse_uint(arg, 0, 100, &o->unknown_pct) == 0 ? 0
                                                             : (*why = "expected 0..100", -EINVAL);
    case OPT_CLASS_MIX: {
        unsigned w[YARD_LG_CLASSES + 1];
        if (parse_list(arg, 0, 1000000, w, YARD_LG_CLASSES + 1, &n) < 0 || n != YARD_LG_CLASSES ||
            w[0] + w[1] + w[2] + w[3] == 0)
            return *why = "expected four weights a,b,c,d for classes 0..3, not all 0", -EINVAL;
        memcpy(o->class_weight, w, sizeof(o->class_weight));
        return 0;
    }
    case OPT_BODY_SIZES:
        return parse_list(arg, 0, 1400, o->body_sizes, YARD_LG_MAX_SIZES, &o->nb_body_sizes) == 0
                   ? 0
                   : (*why = "expected up to 16 sizes 0..1400, comma separated", -EINVAL);
    case OPT_SRC_NAME:
        if (strlen(arg) > YARD_BENCH_NAME_MAX)
            return *why = "src is 0..63 bytes", -EINVAL;
        snprintf(o->src_name, sizeof(o->src_name), "%s", arg);
        return 0;
    case OPT_TTL:
        return parse_uint(arg, 2, 64, &o->ttl) == 0
                   ? 0
                   : (*why = "expected 2..64 (a router drops what would leave with 0)", -EINVAL);
    case OPT_SEED:
        return parse_u64(arg, 0, UINT64_MAX, &o->seed) == 0 ? 0 : (*why = "expected N", -EINVAL);
    case OPT_RATE:
        if (strcmp(arg, "max") == 0)
            return o->rate_pps = 0, 0;
        return parse_u64(arg, 1, 1000000000, &o->rate_pps) == 0
                   ? 0
                   : (*why = "expected messages per second 1..1e9 or 'max'", -EINVAL);
    case OPT_DURATION:
        return parse_seconds(arg, 0, &o->duration_s) == 0 ? 0
                                                          : (*why = "expected seconds", -EINVAL);
    case OPT_BURST:
        return parse_uint(arg, 1, 256, &o->burst) == 0 ? 0 : (*why = "expected 1..256", -EINVAL);
    case OPT_INTERVAL:
        return parse_seconds(arg, 0.05, &o->interval_s) == 0
                   ? 0
                   : (*why = "expected seconds >= 0.05", -EINVAL);
    case OPT_DRAIN_MS:
        if (parse_uint(arg, 0, 60000, &n) < 0)
            return *why = "expected 0..60000", -EINVAL;
        o->drain_s = n / 1000.0;
        return 0;
    case OPT_LINK_TIMEOUT:
        return parse_seconds(arg, 0, &o->link_timeout_s) == 0
                   ? 0
                   : (*why = "expected seconds", -EINVAL);
    case OPT_JSON:
        o->json = true;
        return 0;
    case OPT_EMIT_ROUTES:
        o->emit_routes = true;
        return 0;
    case OPT_WRITE_PCAP:
        if (strlen(arg) >= sizeof(o->pcap_path))
            return *why = "path too long", -EINVAL;
        snprintf(o->pcap_path, sizeof(o->pcap_path), "%s", arg);
        return 0;
    case OPT_FRAMES:
        return parse_uint(arg, 1, 1u << 24, &o->frames) == 0
                   ? 0
                   : (*why = "expected 1..16777216", -EINVAL);
    case OPT_FRAME_SIZE:
        o->frame_size_set = true;
        return parse_uint(arg, 61, YARD_BENCH_FRAME_MAX, &o->frame_size) == 0
                   ? 0
                   : (*why = "expected 61..1514: the smallest valid envelope (1-byte name, empty "
                             "src and body) makes a 61-byte frame",
                      -EINVAL);
    case OPT_KIND:
        if (strcmp(arg, "msg") == 0)
            return o->kind = YARD_LG_KIND_MSG, 0;
        if (strcmp(arg, "register") == 0)
            return o->kind = YARD_LG_KIND_REGISTER, 0;
        return *why = "expected msg or register", -EINVAL;
    case OPT_REG_PREFIX:
        if (strlen(arg) >= sizeof(o->reg_prefix) || memchr(arg, '"', strlen(arg)))
            return *why = "a prefix of up to 31 bytes", -EINVAL;
        snprintf(o->reg_prefix, sizeof(o->reg_prefix), "%s", arg);
        return 0;
    case OPT_LEASE_MS:
        return parse_uint(arg, 1, UINT32_MAX, &n) == 0 ? (o->lease_ms = n, 0)
                                                       : (*why = "expected 1..4294967295", -EINVAL);
    case OPT_TOPIC:
        if (strlen(arg) < 1 || strlen(arg) > YARD_BENCH_NAME_MAX)
            return *why = "a name is 1..63 bytes (PROTOCOL.md section 1)", -EINVAL;
        snprintf(o->topic, sizeof(o->topic), "%s", arg);
        return 0;
    case OPT_SUBSCRIBERS:
        return parse_uint(arg, 1, YARD_LG_MAX_SUBSCRIBERS, &o->subscribers) == 0
                   ? 0
                   : (*why = "expected 1..1024", -EINVAL);
    case OPT_DST_PREFIX:
        if (strlen(arg) < 1 || strlen(arg) >= sizeof(o->dst_prefix))
            return *why = "a prefix of 1 to 31 bytes", -EINVAL;
        snprintf(o->dst_prefix, sizeof(o->dst_prefix), "%s", arg);
        return 0;
    case OPT_IDLE_SLEEP_US:
        return parse_uint(arg, 0, 100000, &o->idle_sleep_us) == 0
                   ? 0
                   : (*why = "expected 0..100000 microseconds", -EINVAL);
    default:
        return *why = "unknown option", -EINVAL;
    }
}

int yard_lg_opts_parse(int argc, char **argv, struct yard_lg_opts *o)
{
    defaults(o);
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            yard_lg_usage(stdout, argv[0]);
            return 1;
        }
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "yard-loadgen: %s: unknown option or missing value; see --help\n",
                    argv[optind - 1]);
            return -EINVAL;
        }
        const char *why = "";
        if (apply(opt, optarg, o, &why) < 0) {
            fprintf(stderr, "yard-loadgen: --%s %s: %s\n", longopts[opt - OPT_PORT].name,
                    optarg ? optarg : "", why);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yard-loadgen: %s: unexpected argument; options start with --\n",
                argv[optind]);
        return -EINVAL;
    }
    if (o->emit_routes && o->pcap_path[0]) {
        fprintf(stderr, "yard-loadgen: --emit-routes and --write-pcap are separate runs\n");
        return -EINVAL;
    }
    if (o->kind == YARD_LG_KIND_REGISTER && (o->topic[0] || o->unknown_pct)) {
        fprintf(stderr, "yard-loadgen: --kind register sends only REGISTERs for its own names; "
                        "drop --topic and --unknown-pct\n");
        return -EINVAL;
    }
    if (o->topic[0] && o->unknown_pct) {
        fprintf(stderr, "yard-loadgen: --topic sends every message to the topic; drop "
                        "--unknown-pct\n");
        return -EINVAL;
    }
    if (o->dst_prefix[0] &&
        (o->kind != YARD_LG_KIND_MSG || o->topic[0] || o->emit_routes || o->pcap_path[0])) {
        fprintf(stderr,
                "yard-loadgen: --dst-prefix names the destinations of messages sent to "
                "a router; drop --kind register, --topic, --emit-routes and --write-pcap\n");
        return -EINVAL;
    }
    if (o->subscribers > 1 && !o->topic[0]) {
        fprintf(stderr, "yard-loadgen: --subscribers counts copies of a topic's messages; give "
                        "--topic too\n");
        return -EINVAL;
    }
    if ((unsigned)o->src_port + o->subscribers - 1 > 65535) {
        fprintf(stderr, "yard-loadgen: --src-port %u + --subscribers %u runs past port 65535\n",
                o->src_port, o->subscribers);
        return -EINVAL;
    }
    return 0;
}
