/*
 * awareness.c - Lifeguard's health score (awareness.h); memberlist's
 * awareness.ApplyDelta without the lock, since one loop thread owns it.
 */
#include "awareness.h"

void swim_awareness_init(struct swim_awareness *a, unsigned max_multiplier)
{
    a->max = max_multiplier >= 1 ? max_multiplier : 1;
    a->score = 0;
}

void swim_awareness_apply(struct swim_awareness *a, int delta)
{
    long score = (long)a->score + delta;
    if (score < 0)
        score = 0;
    else if (score > (long)a->max - 1)
        score = (long)a->max - 1;
    a->score = (unsigned)score;
}
