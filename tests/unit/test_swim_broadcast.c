/*
 * test_swim_broadcast.c - the retransmit-limited broadcast queue
 * (control/swim/broadcast.c) against memberlist's TransmitLimitedQueue
 * rules: the retransmit limit, least-sent-first ordering (largest, then
 * newest within a tier), the packet budget, replacement of news about the
 * same node, the bound and its drop counter, and user-message prefixes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broadcast.h"

static struct swim_bcast_queue q;

static void setup(void)
{
    cr_assert_eq(swim_bcast_queue_init(&q, 8, 4), 0);
}

static void teardown(void)
{
    swim_bcast_queue_fini(&q);
}

TestSuite(swim_broadcast, .init = setup, .fini = teardown);

/* Push a message of len bytes filled with tag, about `name` (NULL: unique). */
static void push(const char *name, char tag, size_t len)
{
    uint8_t msg[SWIM_BCAST_MSG_MAX];
    memset(msg, tag, len);
    cr_assert_eq(
        swim_bcast_queue_push(&q, (const uint8_t *)name, name ? strlen(name) : 0, msg, len, NULL),
        0);
}

/* Pull one packet's worth; returns the tags in order as a string. */
static unsigned pull(unsigned n_nodes, size_t overhead, size_t limit, char *tags)
{
    uint8_t buf[4096];
    const uint8_t *parts[64];
    size_t lens[64];
    unsigned n =
        swim_bcast_queue_pull(&q, n_nodes, overhead, limit, -1, buf, sizeof(buf), parts, lens, 64);
    for (unsigned i = 0; i < n; i++)
        tags[i] = (char)parts[i][0];
    tags[n] = '\0';
    return n;
}

Test(swim_broadcast, retransmit_limit_is_mult_times_ceil_log10)
{
    /* memberlist.md 6.3: 4 for n <= 9, 8 for n <= 99 (mult 4). */
    cr_assert_eq(swim_bcast_retransmit_limit(4, 1), 4);
    cr_assert_eq(swim_bcast_retransmit_limit(4, 2), 4);
    cr_assert_eq(swim_bcast_retransmit_limit(4, 9), 4);
    cr_assert_eq(swim_bcast_retransmit_limit(4, 10), 8);
    cr_assert_eq(swim_bcast_retransmit_limit(4, 99), 8);
    cr_assert_eq(swim_bcast_retransmit_limit(4, 100), 12);
    cr_assert_eq(swim_bcast_retransmit_limit(2, 3), 2);
}

Test(swim_broadcast, each_message_is_sent_exactly_the_limit_then_dropped)
{
    char tags[64];
    push("a", 'a', 10);
    /* 2 nodes: limit 4 (memberlist.md: "a 2-node cluster sends each
     * broadcast exactly 4 times"). */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pull(2, 2, 1398, tags), 1, "send %d", i);
        cr_assert_str_eq(tags, "a");
    }
    cr_assert_eq(pull(2, 2, 1398, tags), 0);
    cr_assert_eq(swim_bcast_queue_len(&q), 0);
    cr_assert_eq(q.sent, 4);
    /* 10 nodes: 8 sends. */
    push("b", 'b', 10);
    unsigned sends = 0;
    while (pull(10, 2, 1398, tags) == 1)
        sends++;
    cr_assert_eq(sends, 8);
}

Test(swim_broadcast, least_sent_first_then_largest_then_newest)
{
    char tags[64];
    push("a", 'a', 10);
    cr_assert_eq(pull(2, 2, 1398, tags), 1); /* a: 1 send */
    push("b", 'b', 10);
    push("c", 'c', 20);
    push("d", 'd', 10);
    /* Tier 0: c (largest), then d (newer than b), then b; then a (tier 1). */
    cr_assert_eq(pull(2, 2, 1398, tags), 4);
    cr_assert_str_eq(tags, "cdba");
}

Test(swim_broadcast, budget_counts_overhead_per_message_and_skips_what_does_not_fit)
{
    char tags[64];
    push("a", 'a', 100);
    push("b", 'b', 50);
    push("c", 'c', 30);
    /* limit 100, overhead 2: free = 98 -> a (100) does not fit; b (50)
     * fits, then free = 100 - 52 - 2 = 46 -> c (30) fits; free then 12. */
    cr_assert_eq(pull(2, 2, 100, tags), 2);
    cr_assert_str_eq(tags, "bc");
    /* A pull does not take the same message twice even with room left. */
    cr_assert_eq(pull(2, 2, 1000, tags), 3);
    cr_assert_str_eq(tags, "abc");
    cr_assert_eq(pull(2, 2, 2, tags), 0, "no room once the overhead is paid");
}

Test(swim_broadcast, news_about_a_node_replaces_the_queued_one)
{
    char tags[64];
    push("node1", 'x', 10);
    push("node2", 'y', 10);
    push("node1", 'z', 10);
    cr_assert_eq(swim_bcast_queue_len(&q), 2);
    cr_assert_eq(q.replaced, 1);
    cr_assert_eq(pull(2, 2, 1398, tags), 2);
    cr_assert(strchr(tags, 'x') == NULL, "the older message about node1 was sent: %s", tags);
    cr_assert(strchr(tags, 'z') != NULL);
    /* Unique (user) messages never replace each other. */
    swim_bcast_queue_reset(&q);
    push(NULL, 'u', 10);
    push(NULL, 'v', 10);
    cr_assert_eq(swim_bcast_queue_len(&q), 2);
}

Test(swim_broadcast, full_queue_drops_the_most_sent_oldest_and_counts_it)
{
    char tags[64];
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof(name), "n%d", i);
        push(name, (char)('a' + i), 10);
    }
    /* Send 'a'..'h' once each: all in tier 1; then one more message. */
    cr_assert_eq(pull(2, 2, 1398, tags), 8);
    uint64_t id_a = 1; /* ids follow push order */
    cr_assert(swim_bcast_queue_pending(&q, id_a));
    push("n8", 'i', 10);
    cr_assert_eq(q.dropped, 1);
    cr_assert_eq(swim_bcast_queue_len(&q), 8);
    /* Among equals (tier 1, same length), the oldest (a) went. */
    cr_assert_not(swim_bcast_queue_pending(&q, id_a));
    cr_assert_eq(pull(2, 2, 1398, tags), 8);
    cr_assert_eq(tags[0], 'i', "the new message goes first: %s", tags);
    cr_assert(strchr(tags, 'a') == NULL);
}

Test(swim_broadcast, prefix_is_written_but_budgeted_by_the_caller)
{
    push(NULL, 'u', 10);
    uint8_t buf[256];
    const uint8_t *parts[4];
    size_t lens[4];
    unsigned n = swim_bcast_queue_pull(&q, 2, 3, 1398, 8, buf, sizeof(buf), parts, lens, 4);
    cr_assert_eq(n, 1);
    cr_assert_eq(lens[0], 11);
    cr_assert_eq(parts[0][0], 8);
    cr_assert_eq(parts[0][1], 'u');
}

Test(swim_broadcast, rejects_empty_and_oversized_messages)
{
    uint8_t big[SWIM_BCAST_MSG_MAX + 1] = {0};
    cr_assert_eq(swim_bcast_queue_push(&q, NULL, 0, big, 0, NULL), -EMSGSIZE);
    cr_assert_eq(swim_bcast_queue_push(&q, NULL, 0, big, sizeof(big), NULL), -EMSGSIZE);
    cr_assert_eq(swim_bcast_queue_push(&q, NULL, 0, big, SWIM_BCAST_MSG_MAX, NULL), 0);
}
