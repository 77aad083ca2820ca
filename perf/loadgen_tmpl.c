/*
 * loadgen_tmpl.c - the load generator's prebuilt frames and send schedule.
 *
 * Everything that costs time per message is done here, once: names are
 * generated, envelopes packed, checksums computed, and the message mix
 * (destinations, classes, body sizes, unknown names) is drawn in advance into
 * a schedule. The worker then only copies a frame and patches its id.
 */
#include "loadgen.h"
#include "names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static unsigned next_pow2(unsigned v)
{
    unsigned p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

int yard_lg_templates_build(const struct yard_lg_opts *o, const uint8_t src_mac[6],
                            struct yard_lg_templates *t)
{
    memset(t, 0, sizeof(*t));
    unsigned nb_unknown = o->unknown_pct ? yard_lg_unknown_names(o) : 0;
    unsigned nb_names = o->names + nb_unknown;
    unsigned nb_sizes = o->nb_body_sizes;
    uint64_t total = (uint64_t)nb_names * YARD_LG_CLASSES * nb_sizes;
    if (total > YARD_LG_MAX_TEMPLATES) {
        fprintf(stderr,
                "yard-loadgen: %u names x %u classes x %u body sizes = %llu frames to prebuild; "
                "the limit is %u: use fewer --names or --body-sizes\n",
                nb_names, YARD_LG_CLASSES, nb_sizes, (unsigned long long)total,
                YARD_LG_MAX_TEMPLATES);
        return -E2BIG;
    }
    unsigned src_len = (unsigned)strlen(o->src_name);
    unsigned largest = 0;
    for (unsigned s = 0; s < nb_sizes; s++) {
        unsigned len = YARD_BENCH_HDR_LEN +
                       yard_bench_envelope_len(o->max_name_len, src_len, o->body_sizes[s]);
        largest = len > largest ? len : largest;
    }
    if (largest > YARD_BENCH_FRAME_MAX) {
        fprintf(stderr,
                "yard-loadgen: --body-sizes with %u-byte names makes %u-byte frames; the largest "
                "Ethernet frame is %u bytes: use smaller bodies or --max-name-len\n",
                o->max_name_len, largest, YARD_BENCH_FRAME_MAX);
        return -EINVAL;
    }
    unsigned stride = (largest + 63) & ~63u;

    t->nb_tmpl = (unsigned)total;
    t->tmpl = calloc(t->nb_tmpl, sizeof(*t->tmpl));
    t->arena = aligned_alloc(64, (size_t)t->nb_tmpl * stride);
    unsigned sched_len = next_pow2(t->nb_tmpl * 4);
    sched_len = sched_len < 65536 ? 65536 : sched_len > (1u << 20) ? (1u << 20) : sched_len;
    t->schedule = malloc(sched_len * sizeof(*t->schedule));
    t->schedule_mask = sched_len - 1;
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
        .src = o->src_name,
        .src_len = src_len,
        .ttl = o->ttl,
        .dst = name,
        .id = 0, /* yard_bench_frame_set_id() patches from 0 */
    };
    memcpy(spec.dst_mac, o->router_mac, 6);
    memcpy(spec.src_mac, src_mac, 6);

    for (unsigned n = 0; n < nb_names; n++) {
        spec.dst_len = yard_bench_name(n, o->max_name_len, name);
        if (spec.dst_len == 0) {
            fprintf(stderr,
                    "yard-loadgen: name %u cannot be told apart in %u bytes; use fewer --names "
                    "or a larger --max-name-len\n",
                    n, o->max_name_len);
            yard_lg_templates_free(t);
            return -EINVAL;
        }
        for (unsigned c = 0; c < YARD_LG_CLASSES; c++) {
            for (unsigned s = 0; s < nb_sizes; s++) {
                unsigned idx = (n * YARD_LG_CLASSES + c) * nb_sizes + s;
                struct yard_lg_template *tp = &t->tmpl[idx];
                spec.prio = c;
                spec.body_len = o->body_sizes[s];
                spec.body_fill = (uint8_t)n;
                tp->data = t->arena + (size_t)idx * stride;
                int rc = yard_bench_frame_build(&spec, tp->data, stride, &tp->info);
                if (rc < 0) {
                    fprintf(stderr, "yard-loadgen: frame for '%s': %s\n", name, strerror(-rc));
                    yard_lg_templates_free(t);
                    return rc;
                }
                tp->prio = (uint8_t)c;
                tp->known = n < o->names;
            }
        }
    }

    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    for (unsigned k = 0; k < sched_len; k++) {
        uint64_t r = yard_lg_rand(&rng);
        unsigned n = (r % 100) < o->unknown_pct
                         ? o->names + (unsigned)((r >> 8) % (nb_unknown ? nb_unknown : 1))
                         : (unsigned)((r >> 8) % o->names);
        r = yard_lg_rand(&rng);
        unsigned c = yard_lg_pick_class(o, r);
        unsigned s = (unsigned)((r >> 32) % nb_sizes);
        t->schedule[k] = (n * YARD_LG_CLASSES + c) * nb_sizes + s;
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
