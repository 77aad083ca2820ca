/*
 * swim_node.c - one gossip instance driven from the command line, so
 * test_swim_serf.py can put it in a cluster with real serf agents.
 *
 *   swim_node --name n1 --bind 127.0.0.1:7946 [--join 127.0.0.1:7947]...
 *             [--profile lan|wan|local] [--key BASE64]... [--meta-tag k=v]...
 *
 * Prints one line per membership event on stdout (line-buffered):
 *   ready <ip:port>            once the sockets are bound
 *   join <name> <ip:port>      a member joined (or came back), this node too
 *   leave <name> <state>       a member became dead or left
 *   update <name>              a member's meta changed
 *   joined                     a --join push/pull succeeded
 * SIGUSR1 prints the table (`member <name> <ip:port> <state> <incarnation>`,
 * then `end`), SIGUSR2 the counters (`stat <name> <value>`, then `end`),
 * SIGTERM prints the counters and exits, SIGINT leaves gracefully first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "swim.h"

static struct swim *node;
static bool leaving, was_joined;

static void addr_text(const struct swim_member *m, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(m->addr_len == 4 ? AF_INET : AF_INET6, m->addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, m->port);
}

static void on_join(void *arg, const struct swim_member *m)
{
    (void)arg;
    char a[80];
    addr_text(m, a, sizeof(a));
    printf("join %s %s\n", m->name, a);
}

static void on_leave(void *arg, const struct swim_member *m)
{
    (void)arg;
    printf("leave %s %s\n", m->name, swim_state_name(m->state));
}

static void on_update(void *arg, const struct swim_member *m)
{
    (void)arg;
    printf("update %s\n", m->name);
}

static void print_members(void)
{
    for (unsigned i = 0; i < swim_nb_members(node); i++) {
        const struct swim_member *m = swim_member_at(node, i);
        char a[80];
        addr_text(m, a, sizeof(a));
        printf("member %s %s %s %u\n", m->name, a, swim_state_name(m->state), m->incarnation);
    }
    printf("end\n");
}

static void print_stats(void)
{
    const struct swim_stats *st = swim_stats(node);
    for (unsigned i = 0; i < swim_stat_count; i++)
        printf("stat %s %llu\n", swim_stat_descs[i].name,
               (unsigned long long)swim_stat_value(st, i));
    for (unsigned d = 0; d < SWIM_PACKET_DROP_MAX; d++)
        printf("stat packet_%s %llu\n", swim_packet_drop_name(d),
               (unsigned long long)st->packet.drops[d]);
    printf("stat health_score %u\nend\n", swim_health_score(node));
}

static void on_signal(struct yard_loop *loop, int signo, void *arg)
{
    (void)arg;
    switch (signo) {
    case SIGUSR1:
        print_members();
        break;
    case SIGUSR2:
        print_stats();
        break;
    case SIGINT:
        if (!leaving) {
            leaving = true;
            swim_leave(node, 3000);
        }
        break;
    default:
        print_stats();
        yard_loop_stop(loop);
        break;
    }
}

static void after_round(struct yard_loop *loop, void *arg)
{
    (void)arg;
    if (!was_joined && swim_joined(node)) {
        was_joined = true;
        printf("joined\n");
    }
    if (leaving && swim_left(node)) {
        print_stats();
        yard_loop_stop(loop);
    }
}

/* ff + a msgpack map of strings: serf's tag encoding (memberlist.md 9.1). */
static size_t put_str(uint8_t *out, const char *s, size_t len)
{
    size_t o = 0;
    if (len < 32) {
        out[o++] = (uint8_t)(0xa0 | len);
    } else {
        out[o++] = 0xda;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    }
    memcpy(out + o, s, len);
    return o + len;
}

static int usage(const char *why)
{
    fprintf(stderr,
            "swim_node: %s\nusage: swim_node --name NAME --bind IP:PORT [--join IP:PORT]... "
            "[--profile lan|wan|local] [--key BASE64]... [--meta-tag K=V]...\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *name = NULL, *bind = NULL, *joins[16], *tags[16];
    unsigned nb_joins = 0, nb_tags = 0;
    enum swim_profile profile = SWIM_PROFILE_LAN;
    static struct swim_keyring kr;
    swim_keyring_init(&kr);

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL)
            return usage("option needs a value");
        i++;
        if (strcmp(opt, "--name") == 0) {
            name = val;
        } else if (strcmp(opt, "--bind") == 0) {
            bind = val;
        } else if (strcmp(opt, "--join") == 0 && nb_joins < 16) {
            joins[nb_joins++] = val;
        } else if (strcmp(opt, "--meta-tag") == 0 && nb_tags < 16) {
            tags[nb_tags++] = val;
        } else if (strcmp(opt, "--profile") == 0) {
            if (swim_profile_parse(val, &profile) < 0)
                return usage("profile must be lan, wan or local");
        } else if (strcmp(opt, "--key") == 0) {
            char err[128];
            if (swim_keyring_add_base64(&kr, val, err, sizeof(err)) < 0)
                return usage(err);
        } else {
            return usage("unknown option");
        }
    }
    if (name == NULL || bind == NULL)
        return usage("--name and --bind are required");

    char host[64];
    const char *colon = strrchr(bind, ':');
    if (colon == NULL || (size_t)(colon - bind) >= sizeof(host))
        return usage("--bind takes IP:PORT");
    memcpy(host, bind, (size_t)(colon - bind));
    host[colon - bind] = '\0';

    uint8_t meta[SWIM_META_MAX];
    size_t ml = 0;
    meta[ml++] = 0xff;
    meta[ml++] = (uint8_t)(0x80 | nb_tags);
    for (unsigned i = 0; i < nb_tags; i++) {
        const char *eq = strchr(tags[i], '=');
        if (eq == NULL)
            return usage("--meta-tag takes K=V");
        if (ml + strlen(tags[i]) + 8 > sizeof(meta))
            return usage("tags longer than 512 bytes");
        ml += put_str(meta + ml, tags[i], (size_t)(eq - tags[i]));
        ml += put_str(meta + ml, eq + 1, strlen(eq + 1));
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    struct yard_loop loop;
    if (yard_loop_init(&loop) < 0)
        return 1;
    int sigs[] = {SIGUSR1, SIGUSR2, SIGINT, SIGTERM};
    yard_loop_signals(&loop, sigs, 4, on_signal, NULL);
    yard_loop_after(&loop, after_round, NULL);

    struct swim_opts o = {
        .name = name,
        .bind_addr = host,
        .bind_port = (uint16_t)atoi(colon + 1),
        .meta = meta,
        .meta_len = ml,
        .keyring = &kr,
        .delegate = {.on_join = on_join, .on_leave = on_leave, .on_update = on_update},
    };
    swim_config_profile(&o.config, profile);
    char why[256];
    int rc = swim_create(&loop, &o, &node, why, sizeof(why));
    if (rc < 0) {
        fprintf(stderr, "swim_node: %s\n", why);
        return 1;
    }
    printf("ready %s:%u\n", host, swim_local_port(node));
    if (nb_joins > 0 && swim_join(node, joins, nb_joins) < 0) {
        fprintf(stderr, "swim_node: bad --join address\n");
        return 2;
    }
    yard_loop_run(&loop);
    swim_destroy(node);
    yard_loop_fini(&loop);
    return 0;
}
