/*
 * suspicion.c - Lifeguard's suspicion timeouts (suspicion.h).
 *
 * The arithmetic follows memberlist 0.2.2 step by step (suspicionTimeout
 * in util.go, remainingSuspicionTime in suspicion.go) so a Switchyard node
 * declares a node dead at the same moment a Serf agent with the same view
 * would: the log10 scale is truncated to thousandths before multiplying,
 * and the shrunk timeout is computed in seconds as a double and floored to
 * whole milliseconds.
 */
#include "suspicion.h"

#include <math.h>
#include <string.h>

void swim_suspicion_params(const struct swim_config *c, unsigned n_nodes, uint64_t *min_ms,
                           uint64_t *max_ms, unsigned *k)
{
    double scale = fmax(1.0, log10(fmax(1.0, (double)n_nodes)));
    uint64_t scale_milli = (uint64_t)(scale * 1000.0);
    *min_ms = (uint64_t)c->suspicion_mult * scale_milli * c->probe_interval_ms / 1000;
    *max_ms = (uint64_t)c->suspicion_max_timeout_mult * *min_ms;

    /* memberlist: k := SuspicionMult - 2; n - 2 < k (us and the suspect
     * excluded, too few left to confirm) -> 0. */
    long kk = (long)c->suspicion_mult - 2;
    if ((long)n_nodes - 2 < kk)
        kk = 0;
    *k = kk < 0 ? 0 : (unsigned)kk;
}

uint64_t swim_suspicion_timeout_ms(unsigned n, unsigned k, uint64_t min_ms, uint64_t max_ms)
{
    if (k < 1)
        return min_ms;
    double frac = log((double)n + 1.0) / log((double)k + 1.0);
    double max_s = (double)max_ms / 1000.0;
    double min_s = (double)min_ms / 1000.0;
    double raw = max_s - frac * (max_s - min_s);
    double ms = floor(1000.0 * raw);
    if (ms < (double)min_ms)
        return min_ms;
    return (uint64_t)ms;
}

void swim_suspicion_start(struct swim_suspicion *s, const uint8_t *from, size_t from_len,
                          unsigned k, uint64_t min_ms, uint64_t max_ms, uint64_t now_ms)
{
    if (k > SWIM_SUSPICION_MAX_K)
        k = SWIM_SUSPICION_MAX_K;
    s->k = k;
    s->n = 0;
    s->min_ms = min_ms;
    s->max_ms = max_ms;
    s->start_ms = now_ms;
    s->timeout_ms = k < 1 ? min_ms : max_ms;
    if (from_len > SWIM_NAME_MAX)
        from_len = SWIM_NAME_MAX;
    memcpy(s->from[0], from, from_len);
    s->from_len[0] = (uint16_t)from_len;
    s->nb_from = 1;
}

static bool seen(const struct swim_suspicion *s, const uint8_t *from, size_t len)
{
    for (unsigned i = 0; i < s->nb_from; i++)
        if (s->from_len[i] == len && memcmp(s->from[i], from, len) == 0)
            return true;
    return false;
}

bool swim_suspicion_confirm(struct swim_suspicion *s, const uint8_t *from, size_t from_len)
{
    if (s->n >= s->k)
        return false;
    if (from_len > SWIM_NAME_MAX || seen(s, from, from_len))
        return false;
    memcpy(s->from[s->nb_from], from, from_len);
    s->from_len[s->nb_from] = (uint16_t)from_len;
    s->nb_from++;
    s->n++;
    s->timeout_ms = swim_suspicion_timeout_ms(s->n, s->k, s->min_ms, s->max_ms);
    return true;
}
