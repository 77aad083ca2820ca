/*
 * names.c - realistic benchmark destination names (see names.h).
 *
 * Why the names are distinct: every name has one of two shapes that cannot
 * meet.
 *   - Long enough names end in i written in decimal after a separator
 *     ('.', '-' or '/'), e.g. "billing.eu-west.svc-0042": the digits after
 *     the last separator give i back, zero padding included.
 *   - Names too short for that are i in base 36 with no separator at all
 *     ("a", "k7"), padded with the zero digit 'a'.
 * The length is chosen first: a hash of i, even over 1..max_len, with a few
 * more one-byte names among the first 36, the only i that can have one.
 * Words from small pools fill it and the number's zero padding absorbs the
 * last 0..3 bytes, so the exact length costs no realism.
 */
#include "names.h"

#include <stdint.h>
#include <string.h>

static const char *const services[] = {
    "billing", "orders", "auth",   "inventory", "payments", "search", "telemetry", "notify",
    "users",   "cart",   "ledger", "gateway",   "sched",    "index",  "media",     "geo",
    "pricing", "fraud",  "email",  "sessions",  "catalog",  "audit",  "reports",   "checkout",
};
static const char *const regions[] = {
    "eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast", "sa-east", "local",
};
static const char *const events[] = {
    "created", "updated", "deleted", "expired", "paid", "shipped", "failed", "retry",
};
static const char *const teams[] = {
    "core", "edge", "data", "infra", "risk", "growth", "ml", "ops",
};
/* Letters only: a filler may be cut anywhere and must never hold a separator. */
static const char *const fillers[] = {
    "primary", "replica", "shard",  "queue", "stream", "worker",  "cache",
    "ingest",  "batch",   "events", "inbox", "outbox", "archive", "mirror",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A separator-free digit set whose zero is a letter, so short names look like names. */
static const char base36[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* splitmix64: a cheap, well-mixed hash so neighbouring i get unrelated names. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Digits v takes in `base`. */
static unsigned digits(unsigned v, unsigned base)
{
    unsigned d = 1;
    while (v >= base) {
        v /= base;
        d++;
    }
    return d;
}

/* Write v in `width` digits of `base` from `alphabet`, most significant first. */
static void put_number(char *p, unsigned width, unsigned v, unsigned base, const char *alphabet)
{
    for (unsigned k = width; k > 0; k--) {
        p[k - 1] = alphabet[v % base];
        v /= base;
    }
}

struct builder {
    char *buf;
    unsigned len;
    unsigned budget; /* bytes available before the number */
};

/* Append word + sep if it fits in the budget; returns whether it did. */
static int add_word(struct builder *b, const char *word, char sep)
{
    unsigned wl = (unsigned)strlen(word);
    if (b->len + wl + 1 > b->budget)
        return 0;
    memcpy(b->buf + b->len, word, wl);
    b->len += wl;
    b->buf[b->len++] = sep;
    return 1;
}

/*
 * The words of a name's style: `head` ones go first, fillers may follow, and
 * the optional tail goes last, right before the number ("svc-0042").
 */
struct style {
    const char *head[3];
    char head_sep[3];
    unsigned nb_head;
    const char *tail; /* NULL: the number follows the last head or filler */
    char tail_sep;
    char version[3];
};

static void style_of(uint64_t h, struct style *s)
{
    unsigned svc = (unsigned)(h >> 16) % NELEM(services);
    memset(s, 0, sizeof(*s));
    switch ((h >> 8) % 4) {
    case 0: /* billing.eu-west.svc-0042 */
        s->head[0] = services[svc], s->head_sep[0] = '.';
        s->head[1] = regions[(h >> 24) % NELEM(regions)], s->head_sep[1] = '.';
        s->nb_head = 2;
        s->tail = "svc", s->tail_sep = '-';
        break;
    case 1: /* orders/v2/7 */
        s->version[0] = 'v';
        s->version[1] = (char)('1' + (h >> 24) % 4);
        s->head[0] = services[svc], s->head_sep[0] = '/';
        s->head[1] = s->version, s->head_sep[1] = '/';
        s->nb_head = 2;
        break;
    case 2: /* events.payments.paid.17 */
        s->head[0] = "events", s->head_sep[0] = '.';
        s->head[1] = services[svc], s->head_sep[1] = '.';
        s->head[2] = events[(h >> 24) % NELEM(events)], s->head_sep[2] = '.';
        s->nb_head = 3;
        break;
    default: /* risk.fraud.worker-3 */
        s->head[0] = teams[(h >> 24) % NELEM(teams)], s->head_sep[0] = '.';
        s->head[1] = services[svc], s->head_sep[1] = '.';
        s->nb_head = 2;
        s->tail = "worker", s->tail_sep = '-';
        break;
    }
}

/* Pick fillers without repeating one within a name: a stride coprime to the pool size. */
static const char *filler(uint64_t h, unsigned n)
{
    return fillers[((unsigned)(h % NELEM(fillers)) + 5 * n) % NELEM(fillers)];
}

unsigned yard_bench_name(unsigned i, unsigned max_len, char *buf)
{
    if (max_len == 0 || max_len > YARD_BENCH_NAME_MAX) {
        if (buf)
            buf[0] = '\0';
        return 0;
    }
    buf[0] = '\0';
    uint64_t h = mix(i);
    unsigned len = 1 + (unsigned)(h % max_len);
    /* Only 36 one-byte names exist; give the first ones a fair chance at one. */
    if (i < 36 && (h >> 40) % 8 == 0)
        len = 1;
    unsigned d = digits(i, 10);

    if (len < d + 2) {
        /* Too short for "word<sep>number": base 36, no separator. */
        unsigned t = digits(i, 36);
        if (t > max_len)
            return 0;
        if (len < t)
            len = t;
        put_number(buf, len, i, 36, base36);
        buf[len] = '\0';
        return len;
    }

    unsigned budget = len - d; /* bytes before the number */
    struct style st;
    style_of(h, &st);
    unsigned reserve = st.tail ? (unsigned)strlen(st.tail) + 1 : 0;
    if (reserve > budget)
        reserve = 0, st.tail = NULL;
    struct builder b = {.buf = buf, .len = 0, .budget = budget - reserve};
    unsigned k = 0;
    while (k < st.nb_head && add_word(&b, st.head[k], st.head_sep[k]))
        k++;
    unsigned n = 0;
    if (k == st.nb_head)
        while (n < 8 && add_word(&b, filler(h >> 32, n), '.'))
            n++;
    /* Fill what is left with a cut filler, keeping at most 3 bytes for zero
     * padding; a name needs a separator, so without a tail it needs a word. */
    while (b.budget - b.len >= 4 || (b.len == 0 && !st.tail && b.budget >= 2)) {
        const char *w = filler(h >> 32, n++);
        unsigned wl = (unsigned)strlen(w);
        if (wl > b.budget - b.len - 1)
            wl = b.budget - b.len - 1;
        memcpy(b.buf + b.len, w, wl);
        b.len += wl;
        b.buf[b.len++] = '.';
    }
    if (st.tail) {
        b.budget += reserve;
        add_word(&b, st.tail, st.tail_sep);
    }
    put_number(buf + b.len, len - b.len, i, 10, "0123456789");
    buf[len] = '\0';
    return len;
}
