/*
 * config.c - memberlist's timing profiles and their validation (config.h).
 *
 * The numbers are copied from memberlist 0.2.2's config.go (DefaultLANConfig
 * and the two profiles derived from it); shared/memberlist.md section 8
 * lists them. Nothing else in the engine hard-codes a duration.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void swim_config_profile(struct swim_config *c, enum swim_profile p)
{
    /* DefaultLANConfig */
    *c = (struct swim_config){
        .probe_interval_ms = 1000,
        .probe_timeout_ms = 500,
        .indirect_checks = 3,
        .suspicion_mult = 4,
        .suspicion_max_timeout_mult = 6,
        .retransmit_mult = 4,
        .gossip_interval_ms = 200,
        .gossip_nodes = 3,
        .gossip_to_the_dead_ms = 30000,
        .push_pull_interval_ms = 30000,
        .tcp_timeout_ms = 10000,
        .awareness_max_multiplier = 8,
        .compress = true,
        .broadcast_queue_max = 1024,
    };
    switch (p) {
    case SWIM_PROFILE_WAN: /* DefaultWANConfig: LAN with these changes */
        c->tcp_timeout_ms = 30000;
        c->suspicion_mult = 6;
        c->push_pull_interval_ms = 60000;
        c->probe_timeout_ms = 3000;
        c->probe_interval_ms = 5000;
        c->gossip_nodes = 4;
        c->gossip_interval_ms = 500;
        c->gossip_to_the_dead_ms = 60000;
        break;
    case SWIM_PROFILE_LOCAL: /* DefaultLocalConfig: LAN with these changes */
        c->tcp_timeout_ms = 1000;
        c->indirect_checks = 1;
        c->retransmit_mult = 2;
        c->suspicion_mult = 3;
        c->push_pull_interval_ms = 15000;
        c->probe_timeout_ms = 200;
        c->probe_interval_ms = 1000;
        c->gossip_interval_ms = 100;
        c->gossip_to_the_dead_ms = 15000;
        break;
    case SWIM_PROFILE_LAN:
        break;
    }
}

static const char *const profile_names[] = {
    [SWIM_PROFILE_LAN] = "lan",
    [SWIM_PROFILE_WAN] = "wan",
    [SWIM_PROFILE_LOCAL] = "local",
};

int swim_profile_parse(const char *s, enum swim_profile *p)
{
    if (s == NULL)
        return -EINVAL;
    for (unsigned i = 0; i < sizeof(profile_names) / sizeof(profile_names[0]); i++) {
        if (strcasecmp(s, profile_names[i]) == 0) {
            *p = (enum swim_profile)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *swim_profile_name(enum swim_profile p)
{
    if ((unsigned)p >= sizeof(profile_names) / sizeof(profile_names[0]))
        return "?";
    return profile_names[p];
}

int swim_config_check(const struct swim_config *c, char *why, size_t whylen)
{
    const char *field = NULL;
    unsigned value = 0;
    const char *rule = NULL;

#define REQUIRE(cond, f, r)         \
    if (field == NULL && !(cond)) { \
        field = #f;                 \
        value = c->f;               \
        rule = r;                   \
    }
    REQUIRE(c->probe_interval_ms > 0, probe_interval_ms, "must be > 0");
    REQUIRE(c->probe_timeout_ms > 0, probe_timeout_ms, "must be > 0");
    REQUIRE(c->probe_timeout_ms < c->probe_interval_ms, probe_timeout_ms,
            "must be below probe_interval_ms");
    REQUIRE(c->suspicion_mult >= 1 && c->suspicion_mult <= SWIM_SUSPICION_MULT_MAX, suspicion_mult,
            "must be 1..10");
    REQUIRE(c->suspicion_max_timeout_mult >= 1, suspicion_max_timeout_mult, "must be >= 1");
    REQUIRE(c->retransmit_mult >= 1, retransmit_mult, "must be >= 1");
    REQUIRE(c->gossip_interval_ms > 0, gossip_interval_ms, "must be > 0");
    REQUIRE(c->gossip_nodes <= 64, gossip_nodes, "must be <= 64");
    REQUIRE(c->indirect_checks <= 16, indirect_checks, "must be <= 16");
    REQUIRE(c->tcp_timeout_ms > 0, tcp_timeout_ms, "must be > 0");
    REQUIRE(c->awareness_max_multiplier >= 1, awareness_max_multiplier, "must be >= 1");
#undef REQUIRE
    if (field == NULL)
        return 0;
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "swim config: %s = %u %s", field, value, rule);
    return -EINVAL;
}
