/*
 * stats.c - the counter table behind stats.h: one descriptor per counter,
 * generated from the same X-macro as the struct, so an exporter cannot
 * miss a field or misname one.
 */
#include "stats.h"

const struct swim_stat_desc swim_stat_descs[] = {
#define SWIM_X_DESC(n, h) {.name = #n, .help = h, .offset = offsetof(struct swim_stats, n)},
    SWIM_STATS(SWIM_X_DESC)
#undef SWIM_X_DESC
};

const unsigned swim_stat_count = sizeof(swim_stat_descs) / sizeof(swim_stat_descs[0]);
