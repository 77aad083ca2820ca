/*
 * awareness.h - Lifeguard's local health score (memberlist's awareness.go,
 * shared/memberlist.md section 7).
 *
 * A node that misses acks because it is itself slow (CPU starved, packet
 * loss on its own link) should not accuse others quickly. The score counts
 * recent evidence of our own trouble: failed probes without the expected
 * nacks and accusations we had to refute raise it, acked probes lower it.
 * The probe interval (and so the time we wait for acks) is multiplied by
 * score + 1.
 *
 * Pure state, no clock: any thread that owns the struct.
 */
#ifndef YARD_SWIM_AWARENESS_H
#define YARD_SWIM_AWARENESS_H

#include <stdint.h>

struct swim_awareness {
    unsigned max;   /* AwarenessMaxMultiplier: the score stays in [0, max - 1] */
    unsigned score; /* 0 = healthy */
};

/* Score 0, bounded by max_multiplier - 1 (max_multiplier >= 1). */
void swim_awareness_init(struct swim_awareness *a, unsigned max_multiplier);

/* Add delta (may be negative) and clamp to [0, max - 1]. */
void swim_awareness_apply(struct swim_awareness *a, int delta);

/* The current score. */
static inline unsigned swim_awareness_score(const struct swim_awareness *a)
{
    return a->score;
}

/* timeout_ms x (score + 1): the probe interval this health allows. */
static inline uint64_t swim_awareness_scale_ms(const struct swim_awareness *a, uint64_t timeout_ms)
{
    return timeout_ms * ((uint64_t)a->score + 1);
}

#endif
