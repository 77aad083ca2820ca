/*
 * loadgen_tmpl.c - the load generator's prebuilt frames and send schedule.
 *
 * Everything that costs time per message is done here, once: names are
 * generated, envelopes packed, checksums computed, and the message mix
 * (destinations, classes, body sizes, unknown names) is drawn in advance into
 * a schedule. The worker then only copies a frame and patches its id.
 *
 * Routed names enter the schedule as shuffled permutations rather than as
 * independent draws: with a million names, independent draws into a
 * schedule of a few million slots would leave a third of the names unsent
 * and send others three times, and a router benchmark "over a million
 * names" must touch a million keys.
 */
#include "loadgen.h"
#include "names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Longest schedule: 16 MB of indices. */
#define SCHEDULE_MAX (1u << 22)
#define SCHEDULE_MIN 65536u

/* The destination names of the templates, in template order. */
struct name_set {
    unsigned nb_known;   /* names 0..nb_known-1 are routed */
    unsigned nb_unknown; /* then these have no route */
};

static unsigned name_count(const struct yard_lg_opts *o, struct name_set *ns)
{
    if (o->kind == YARD_LG_KIND_REGISTER) {
        ns->nb_known = o->names;
        ns->nb_unknown = 0;
    } else if (o->topic[0]) {
        ns->nb_known = 1;
        ns->nb_unknown = 0;
    } else {
        ns->nb_known = o->names;
        ns->nb_unknown = o->unknown_pct ? yard_lg_unknown_names(o) : 0;
    }
    return ns->nb_known + ns->nb_unknown;
}

/* Name number n of the run (NUL-terminated into buf); returns its length, 0
 * when it cannot be made. */
static unsigned name_of(const struct yard_lg_opts *o, unsigned n, char *buf)
{
    if (o->kind == YARD_LG_KIND_REGISTER) {
        int len = snprintf(buf, YARD_BENCH_NAME_MAX + 1, "%s%u", o->reg_prefix, n);
        return len > 0 && len <= YARD_BENCH_NAME_MAX ? (unsigned)len : 0;
    }
    if (o->topic[0]) {
        snprintf(buf, YARD_BENCH_NAME_MAX + 1, "%s", o->topic);
        return (unsigned)strlen(buf);
    }
    if (o->dst_prefix[0]) {
        int len = snprintf(buf, YARD_BENCH_NAME_MAX + 1, "%s%u", o->dst_prefix, n);
        return len > 0 && (unsigned)len <= o->max_name_len ? (unsigned)len : 0;
    }
    return yard_bench_name(n, o->max_name_len, buf);
}

/* The REGISTER body {"lease_ms": N} (a msgpack map of one uint32). */
static unsigned lease_body(uint32_t lease_ms, uint8_t *buf)
{
    static const char key[] = "lease_ms";
    unsigned k = 0;
    buf[k++] = 0x81;
    buf[k++] = (uint8_t)(0xa0 | (sizeof(key) - 1));
    memcpy(buf + k, key, sizeof(key) - 1);
    k += sizeof(key) - 1;
    buf[k++] = 0xce;
    for (int s = 24; s >= 0; s -= 8)
        buf[k++] = (uint8_t)(lease_ms >> s);
    return k;
}

/* Fisher-Yates over 0..n-1. */
static void shuffle(uint32_t *perm, unsigned n, uint64_t *rng)
{
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)(yard_lg_rand(rng) % i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

static unsigned schedule_length(const struct yard_lg_opts *o, const struct name_set *ns)
{
    if (o->kind == YARD_LG_KIND_REGISTER)
        return ns->nb_known; /* each name once per round, in order */
    uint64_t len = 2ull * ns->nb_known;
    if (len < SCHEDULE_MIN)
        len = SCHEDULE_MIN;
    return len > SCHEDULE_MAX ? SCHEDULE_MAX : (unsigned)len;
}

/* Draw the schedule: names (a fresh permutation of the routed ones each
 * time one is used up, or in order for REGISTER), classes by weight, body
 * sizes uniformly. */
static int schedule_fill(const struct yard_lg_opts *o, const struct name_set *ns,
                         const int *class_slot, unsigned nb_cls, unsigned nb_sizes,
                         struct yard_lg_templates *t)
{
    uint32_t *perm = malloc((size_t)ns->nb_known * sizeof(*perm));
    if (perm == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < ns->nb_known; i++)
        perm[i] = i;
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    bool ordered = o->kind == YARD_LG_KIND_REGISTER;
    unsigned next = ns->nb_known; /* forces a shuffle before the first use */
    for (unsigned k = 0; k < t->schedule_len; k++) {
        uint64_t r = yard_lg_rand(&rng);
        unsigned n;
        if (ns->nb_unknown && (r % 100) < o->unknown_pct) {
            n = ns->nb_known + (unsigned)((r >> 8) % ns->nb_unknown);
        } else {
            if (next == ns->nb_known) {
                if (!ordered)
                    shuffle(perm, ns->nb_known, &rng);
                next = 0;
            }
            n = perm[next++];
        }
        r = yard_lg_rand(&rng);
        unsigned c = (unsigned)class_slot[yard_lg_pick_class(o, r)];
        unsigned s = (unsigned)((r >> 32) % nb_sizes);
        t->schedule[k] = (n * nb_cls + c) * nb_sizes + s;
    }
    free(perm);
    return 0;
}

int yard_lg_templates_build(const struct yard_lg_opts *o, const uint8_t src_mac[6],
                            struct yard_lg_templates *t)
{
    memset(t, 0, sizeof(*t));
    struct name_set ns;
    unsigned nb_names = name_count(o, &ns);
    /* Only classes that will be sent get frames. */
    int class_slot[YARD_LG_CLASSES];
    unsigned cls[YARD_LG_CLASSES], nb_cls = 0;
    for (unsigned c = 0; c < YARD_LG_CLASSES; c++) {
        class_slot[c] = -1;
        if (o->class_weight[c] > 0) {
            class_slot[c] = (int)nb_cls;
            cls[nb_cls++] = c;
        }
    }
    uint8_t lease[16];
    unsigned lease_len = o->lease_ms ? lease_body(o->lease_ms, lease) : 0;
    bool reg = o->kind == YARD_LG_KIND_REGISTER;
    /* A REGISTER's body is its lease request: one body "size". */
    unsigned nb_sizes = reg ? 1 : o->nb_body_sizes;
    uint64_t total = (uint64_t)nb_names * nb_cls * nb_sizes;
    if (total > YARD_LG_MAX_TEMPLATES) {
        fprintf(stderr,
                "yard-loadgen: %u names x %u classes x %u body sizes = %llu frames to prebuild; "
                "the limit is %u: use fewer --names, fewer --body-sizes or fewer classes in "
                "--class-mix (a weight of 0 builds no frames)\n",
                nb_names, nb_cls, nb_sizes, (unsigned long long)total, YARD_LG_MAX_TEMPLATES);
        return -E2BIG;
    }
    unsigned name_max = reg           ? YARD_BENCH_NAME_MAX
                        : o->topic[0] ? (unsigned)strlen(o->topic)
                                      : o->max_name_len;
    unsigned src_len = reg ? name_max : (unsigned)strlen(o->src_name);
    unsigned largest = 0;
    for (unsigned s = 0; s < nb_sizes; s++) {
        unsigned body = reg ? lease_len : o->body_sizes[s];
        unsigned len = YARD_BENCH_HDR_LEN + yard_bench_envelope_len(name_max, src_len, body);
        largest = len > largest ? len : largest;
    }
    if (largest > YARD_BENCH_FRAME_MAX) {
        fprintf(stderr,
                "yard-loadgen: --body-sizes with %u-byte names makes %u-byte frames; the largest "
                "Ethernet frame is %u bytes: use smaller bodies or --max-name-len\n",
                name_max, largest, YARD_BENCH_FRAME_MAX);
        return -EINVAL;
    }
    unsigned stride = (largest + 63) & ~63u;
    if (total * stride > YARD_LG_MAX_ARENA_BYTES) {
        fprintf(stderr,
                "yard-loadgen: %llu frames of up to %u bytes need %llu MB; the limit is %llu MB: "
                "use fewer --names, smaller or fewer --body-sizes, or fewer classes\n",
                (unsigned long long)total, stride, (unsigned long long)(total * stride >> 20),
                (unsigned long long)(YARD_LG_MAX_ARENA_BYTES >> 20));
        return -E2BIG;
    }

    t->nb_tmpl = (unsigned)total;
    t->stride = stride;
    t->tmpl = calloc(t->nb_tmpl, sizeof(*t->tmpl));
    t->arena = aligned_alloc(64, (size_t)t->nb_tmpl * stride);
    t->schedule_len = schedule_length(o, &ns);
    t->schedule = malloc((size_t)t->schedule_len * sizeof(*t->schedule));
    if (!t->tmpl || !t->arena || !t->schedule) {
        fprintf(stderr, "yard-loadgen: no memory for %u frames of %u bytes\n", t->nb_tmpl, stride);
        yard_lg_templates_free(t);
        return -ENOMEM;
    }

    char name[YARD_BENCH_NAME_MAX + 1];
    struct yard_bench_frame_spec spec = {
        .src_ip = o->src_ip,
        .dst_ip = o->router_ip,
        .src_port = o->src_port,
        .dst_port = o->router_port,
        .src = reg ? name : o->src_name,
        .src_len = src_len,
        .ttl = o->ttl,
        .dst = name,
        .id = 0, /* yard_bench_frame_set_id() patches from 0 */
        .kind = reg ? 1 : 0,
    };
    memcpy(spec.dst_mac, o->router_mac, 6);
    memcpy(spec.src_mac, src_mac, 6);

    for (unsigned n = 0; n < nb_names; n++) {
        spec.dst_len = name_of(o, n, name);
        if (spec.dst_len == 0) {
            fprintf(stderr,
                    "yard-loadgen: name %u cannot be made in %u bytes; use fewer --names, a "
                    "larger --max-name-len or a shorter --reg-prefix\n",
                    n, name_max);
            yard_lg_templates_free(t);
            return -EINVAL;
        }
        if (reg)
            spec.src_len = spec.dst_len; /* "I am <name>" */
        for (unsigned ci = 0; ci < nb_cls; ci++) {
            for (unsigned s = 0; s < nb_sizes; s++) {
                unsigned idx = (n * nb_cls + ci) * nb_sizes + s;
                struct yard_lg_template *tp = &t->tmpl[idx];
                spec.prio = cls[ci];
                if (reg) {
                    spec.body_len = lease_len;
                    spec.body = lease_len ? lease : NULL;
                } else {
                    spec.body_len = o->body_sizes[s];
                    spec.body_fill = (uint8_t)n;
                }
                tp->data = t->arena + (size_t)idx * stride;
                int rc = yard_bench_frame_build(&spec, tp->data, stride, &tp->info);
                if (rc < 0) {
                    fprintf(stderr, "yard-loadgen: frame for '%s': %s\n", name, strerror(-rc));
                    yard_lg_templates_free(t);
                    return rc;
                }
                tp->prio = (uint8_t)cls[ci];
                tp->known = n < ns.nb_known;
            }
        }
    }
    if (schedule_fill(o, &ns, class_slot, nb_cls, nb_sizes, t) < 0) {
        fprintf(stderr, "yard-loadgen: no memory for the schedule of %u names\n", ns.nb_known);
        yard_lg_templates_free(t);
        return -ENOMEM;
    }
    return 0;
}

void yard_lg_templates_free(struct yard_lg_templates *t)
{
    free(t->tmpl);
    free(t->arena);
    free(t->schedule);
    memset(t, 0, sizeof(*t));
}
