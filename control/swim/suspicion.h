/*
 * suspicion.h - Lifeguard's suspicion timer (memberlist's suspicion.go,
 * shared/memberlist.md section 7).
 *
 * A suspect node is declared dead when its timer runs out. The timer
 * starts long (max) and shrinks towards min as other members independently
 * report the same suspicion: with k expected confirmations, the c-th one
 * sets the timeout to max - ln(c + 1) / ln(k + 1) x (max - min), counted
 * from the start. Confirmations are identified by the accuser's name;
 * the first accuser and repeats do not count.
 *
 * Time is passed in (milliseconds on any monotonic clock), so the formulas
 * are testable without sleeping; the caller arms a timer at
 * swim_suspicion_deadline(). No allocation; any thread owning the struct.
 */
#ifndef YARD_SWIM_SUSPICION_H
#define YARD_SWIM_SUSPICION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "msg.h"

/* k never exceeds SuspicionMult - 2. */
#define SWIM_SUSPICION_MAX_K (SWIM_SUSPICION_MULT_MAX - 2)

struct swim_suspicion {
    unsigned k;          /* confirmations that bring the timeout down to min */
    unsigned n;          /* independent confirmations so far (<= k) */
    uint64_t min_ms;     /* the timeout with k confirmations */
    uint64_t max_ms;     /* the timeout with none (when k >= 1) */
    uint64_t start_ms;   /* when the node became suspect */
    uint64_t timeout_ms; /* current timeout, counted from start_ms */
    unsigned nb_from;    /* accusers seen: the first one plus n confirmations */
    uint16_t from_len[SWIM_SUSPICION_MAX_K + 1];
    uint8_t from[SWIM_SUSPICION_MAX_K + 1][SWIM_NAME_MAX];
};

/*
 * The parameters for a node suspected in a table of n_nodes entries (self,
 * suspect, unreaped dead and left nodes included):
 * min = suspicion_mult x max(1, log10(max(1, n))) x probe_interval (the
 * scale truncated to thousandths, as memberlist does), max =
 * suspicion_max_timeout_mult x min, k = suspicion_mult - 2, or 0 when
 * n - 2 < k (too few other members to confirm) or suspicion_mult < 3.
 */
void swim_suspicion_params(const struct swim_config *c, unsigned n_nodes, uint64_t *min_ms,
                           uint64_t *max_ms, unsigned *k);

/*
 * The timeout after n of k confirmations: min when k < 1, else
 * max - ln(n + 1) / ln(k + 1) x (max - min) floored to whole ms and never
 * below min.
 */
uint64_t swim_suspicion_timeout_ms(unsigned n, unsigned k, uint64_t min_ms, uint64_t max_ms);

/* Start a suspicion raised by `from` at now_ms (k is clamped to
 * SWIM_SUSPICION_MAX_K). */
void swim_suspicion_start(struct swim_suspicion *s, const uint8_t *from, size_t from_len,
                          unsigned k, uint64_t min_ms, uint64_t max_ms, uint64_t now_ms);

/*
 * Count `from` as a confirmation. Returns true if it was new and counted
 * (the deadline moved: re-arm the timer, and re-gossip the suspicion);
 * false once k confirmations are in, or if `from` was already seen.
 */
bool swim_suspicion_confirm(struct swim_suspicion *s, const uint8_t *from, size_t from_len);

/* When the node is to be declared dead (absolute ms). */
static inline uint64_t swim_suspicion_deadline(const struct swim_suspicion *s)
{
    return s->start_ms + s->timeout_ms;
}

/* Time left at now_ms; <= 0 means it is due. */
static inline int64_t swim_suspicion_remaining_ms(const struct swim_suspicion *s, uint64_t now_ms)
{
    return (int64_t)swim_suspicion_deadline(s) - (int64_t)now_ms;
}

#endif
