/*
 * config.h - the timing knobs of the SWIM + Lifeguard engine, with
 * memberlist's three profiles (shared/memberlist.md section 8).
 *
 * Every interval the protocol runs on lives in one struct so that an
 * operator (or a test) can see and change all of them in one place, and so
 * the profiles stay word for word memberlist's DefaultLANConfig,
 * DefaultWANConfig and DefaultLocalConfig: a Switchyard node in a cluster
 * with Serf agents must detect failures on the same schedule they do.
 *
 * Pure data and functions of it: any thread, no allocation.
 */
#ifndef YARD_SWIM_CONFIG_H
#define YARD_SWIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum swim_profile {
    SWIM_PROFILE_LAN,   /* memberlist DefaultLANConfig, the serf agent's default */
    SWIM_PROFILE_WAN,   /* DefaultWANConfig */
    SWIM_PROFILE_LOCAL, /* DefaultLocalConfig: loopback and tests */
};

/* Largest suspicion_mult accepted: k = suspicion_mult - 2 confirmations are
 * remembered per suspect node (suspicion.h). */
#define SWIM_SUSPICION_MULT_MAX 10

struct swim_config {
    unsigned probe_interval_ms; /* ProbeInterval: one probe per interval */
    unsigned probe_timeout_ms;  /* ProbeTimeout: direct ack wait before indirect probes */
    unsigned indirect_checks;   /* IndirectChecks: helpers asked per failed probe */
    unsigned suspicion_mult;    /* SuspicionMult: min suspicion = mult x log10(n) x interval */
    unsigned suspicion_max_timeout_mult; /* SuspicionMaxTimeoutMult: max = mult x min */
    unsigned retransmit_mult;            /* RetransmitMult: sends = mult x ceil(log10(n + 1)) */
    unsigned gossip_interval_ms;         /* GossipInterval */
    unsigned gossip_nodes;               /* GossipNodes: peers per gossip round */
    unsigned gossip_to_the_dead_ms;      /* GossipToTheDeadTime: dead nodes still gossiped to */
    unsigned push_pull_interval_ms;      /* PushPullInterval (0: no periodic anti-entropy) */
    unsigned tcp_timeout_ms;             /* TCPTimeout: deadline of one stream exchange */
    unsigned awareness_max_multiplier;   /* AwarenessMaxMultiplier: probe interval x 1..this */
    bool compress;                       /* EnableCompression: LZW what we send when it helps */
    unsigned broadcast_queue_max;        /* entries per broadcast queue before the oldest
                                            are dropped (counted); 0: 1024 */
};

/* Fill c with a profile's values (every field; compress on). Any thread. */
void swim_config_profile(struct swim_config *c, enum swim_profile p);

/* "lan", "wan" or "local" (case-insensitive) -> *p. 0 or -EINVAL. */
int swim_profile_parse(const char *s, enum swim_profile *p);

/* The profile's name as swim_profile_parse() takes it. */
const char *swim_profile_name(enum swim_profile p);

/*
 * Check that c can run: intervals > 0 where the protocol divides by them,
 * probe_timeout_ms < probe_interval_ms, suspicion_mult in
 * 1..SWIM_SUSPICION_MULT_MAX, awareness_max_multiplier >= 1. Returns 0, or
 * -EINVAL with the offending field and value written to why.
 */
int swim_config_check(const struct swim_config *c, char *why, size_t whylen);

#endif
