/*
 * test_swim_suspicion.c - Lifeguard's suspicion timer (control/swim/
 * suspicion.c) and the timing profiles (config.c), with the numbers of
 * memberlist.md sections 7 and 8.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "config.h"
#include "suspicion.h"

#define NAME(s) (const uint8_t *)(s), strlen(s)

static struct swim_config lan(void)
{
    struct swim_config c;
    swim_config_profile(&c, SWIM_PROFILE_LAN);
    return c;
}

Test(swim_suspicion, lan_small_cluster_min_4s_max_24s_k2)
{
    struct swim_config c = lan();
    uint64_t min, max;
    unsigned k;
    for (unsigned n = 4; n <= 10; n++) {
        swim_suspicion_params(&c, n, &min, &max, &k);
        cr_assert_eq(min, 4000, "n=%u", n);
        cr_assert_eq(max, 24000, "n=%u", n);
        cr_assert_eq(k, 2, "n=%u", n);
    }
    /* n <= 3: too few others to confirm, k = 0 and the timer is min. */
    for (unsigned n = 1; n <= 3; n++) {
        swim_suspicion_params(&c, n, &min, &max, &k);
        cr_assert_eq(k, 0, "n=%u", n);
        cr_assert_eq(min, 4000);
    }
}

Test(swim_suspicion, lan_hundred_nodes_8s_48s)
{
    struct swim_config c = lan();
    uint64_t min, max;
    unsigned k;
    swim_suspicion_params(&c, 100, &min, &max, &k);
    cr_assert_eq(min, 8000);
    cr_assert_eq(max, 48000);
    cr_assert_eq(k, 2);
    /* The log10 scale is truncated to thousandths first, as memberlist's
     * time.Duration(nodeScale*1000) does: log10(50) = 1.69897 -> 1.698. */
    swim_suspicion_params(&c, 50, &min, &max, &k);
    cr_assert_eq(min, 6792);
}

Test(swim_suspicion, confirmations_shrink_the_timeout)
{
    /* One confirmation: 24 - ln 2 / ln 3 x 20 = 11.381 s; two: 4 s. */
    cr_assert_eq(swim_suspicion_timeout_ms(0, 2, 4000, 24000), 24000);
    cr_assert_eq(swim_suspicion_timeout_ms(1, 2, 4000, 24000), 11381);
    cr_assert_eq(swim_suspicion_timeout_ms(2, 2, 4000, 24000), 4000);
    cr_assert_eq(swim_suspicion_timeout_ms(3, 2, 4000, 24000), 4000, "never below min");
    cr_assert_eq(swim_suspicion_timeout_ms(0, 0, 4000, 24000), 4000, "k < 1: min");
}

Test(swim_suspicion, timer_counts_only_new_accusers_up_to_k)
{
    struct swim_suspicion s;
    swim_suspicion_start(&s, NAME("a"), 2, 4000, 24000, 100000);
    cr_assert_eq(swim_suspicion_deadline(&s), 124000);
    cr_assert_not(swim_suspicion_confirm(&s, NAME("a")), "the first accuser is no confirmation");
    cr_assert(swim_suspicion_confirm(&s, NAME("b")));
    cr_assert_eq(swim_suspicion_deadline(&s), 100000 + 11381);
    cr_assert_not(swim_suspicion_confirm(&s, NAME("b")), "a repeat is no confirmation");
    cr_assert_eq(swim_suspicion_remaining_ms(&s, 105000), 6381);
    cr_assert(swim_suspicion_confirm(&s, NAME("c")));
    cr_assert_eq(swim_suspicion_deadline(&s), 104000);
    /* Already elapsed: due at once. */
    cr_assert_leq(swim_suspicion_remaining_ms(&s, 105000), 0);
    cr_assert_not(swim_suspicion_confirm(&s, NAME("d")), "k confirmations are enough");
    cr_assert_eq(s.n, 2);
}

Test(swim_suspicion, k_zero_fires_at_min)
{
    struct swim_suspicion s;
    swim_suspicion_start(&s, NAME("a"), 0, 4000, 24000, 5000);
    cr_assert_eq(swim_suspicion_deadline(&s), 9000);
    cr_assert_not(swim_suspicion_confirm(&s, NAME("b")));
    cr_assert_eq(swim_suspicion_deadline(&s), 9000);
}

Test(swim_config, profiles_are_memberlists)
{
    struct swim_config c;
    swim_config_profile(&c, SWIM_PROFILE_LAN);
    cr_assert_eq(c.probe_interval_ms, 1000);
    cr_assert_eq(c.probe_timeout_ms, 500);
    cr_assert_eq(c.indirect_checks, 3);
    cr_assert_eq(c.suspicion_mult, 4);
    cr_assert_eq(c.suspicion_max_timeout_mult, 6);
    cr_assert_eq(c.retransmit_mult, 4);
    cr_assert_eq(c.gossip_interval_ms, 200);
    cr_assert_eq(c.gossip_nodes, 3);
    cr_assert_eq(c.gossip_to_the_dead_ms, 30000);
    cr_assert_eq(c.push_pull_interval_ms, 30000);
    cr_assert_eq(c.tcp_timeout_ms, 10000);
    cr_assert_eq(c.awareness_max_multiplier, 8);
    cr_assert(c.compress);
    swim_config_profile(&c, SWIM_PROFILE_WAN);
    cr_assert_eq(c.probe_interval_ms, 5000);
    cr_assert_eq(c.probe_timeout_ms, 3000);
    cr_assert_eq(c.suspicion_mult, 6);
    cr_assert_eq(c.gossip_interval_ms, 500);
    cr_assert_eq(c.gossip_nodes, 4);
    cr_assert_eq(c.gossip_to_the_dead_ms, 60000);
    cr_assert_eq(c.push_pull_interval_ms, 60000);
    cr_assert_eq(c.tcp_timeout_ms, 30000);
    swim_config_profile(&c, SWIM_PROFILE_LOCAL);
    cr_assert_eq(c.probe_interval_ms, 1000);
    cr_assert_eq(c.probe_timeout_ms, 200);
    cr_assert_eq(c.indirect_checks, 1);
    cr_assert_eq(c.suspicion_mult, 3);
    cr_assert_eq(c.retransmit_mult, 2);
    cr_assert_eq(c.gossip_interval_ms, 100);
    cr_assert_eq(c.gossip_to_the_dead_ms, 15000);
    cr_assert_eq(c.push_pull_interval_ms, 15000);
    cr_assert_eq(c.tcp_timeout_ms, 1000);
}

Test(swim_config, parse_and_check)
{
    enum swim_profile p;
    cr_assert_eq(swim_profile_parse("LAN", &p), 0);
    cr_assert_eq(p, SWIM_PROFILE_LAN);
    cr_assert_eq(swim_profile_parse("local", &p), 0);
    cr_assert_eq(p, SWIM_PROFILE_LOCAL);
    cr_assert_eq(swim_profile_parse("wan", &p), 0);
    cr_assert_eq(p, SWIM_PROFILE_WAN);
    cr_assert_eq(swim_profile_parse("metro", &p), -EINVAL);

    struct swim_config c = lan();
    char why[128];
    cr_assert_eq(swim_config_check(&c, why, sizeof(why)), 0);
    c.probe_timeout_ms = 1000;
    cr_assert_eq(swim_config_check(&c, why, sizeof(why)), -EINVAL);
    cr_assert(strstr(why, "probe_timeout_ms = 1000") != NULL, "%s", why);
    c = lan();
    c.suspicion_mult = 11;
    cr_assert_eq(swim_config_check(&c, why, sizeof(why)), -EINVAL);
    cr_assert(strstr(why, "suspicion_mult") != NULL, "%s", why);
}
