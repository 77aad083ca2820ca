/*
 * test_swim_awareness.c - Lifeguard's health score (control/swim/
 * awareness.c): bounds and the probe-interval scaling of memberlist.md
 * section 7.
 */
#include <criterion/criterion.h>

#include "awareness.h"

Test(swim_awareness, starts_healthy_and_scales_the_interval)
{
    struct swim_awareness a;
    swim_awareness_init(&a, 8);
    cr_assert_eq(swim_awareness_score(&a), 0);
    cr_assert_eq(swim_awareness_scale_ms(&a, 1000), 1000);
    swim_awareness_apply(&a, 3);
    cr_assert_eq(swim_awareness_score(&a), 3);
    cr_assert_eq(swim_awareness_scale_ms(&a, 1000), 4000);
}

Test(swim_awareness, clamps_to_zero_and_max_minus_one)
{
    struct swim_awareness a;
    swim_awareness_init(&a, 8);
    swim_awareness_apply(&a, -1);
    cr_assert_eq(swim_awareness_score(&a), 0, "an acked probe cannot go below healthy");
    for (int i = 0; i < 20; i++)
        swim_awareness_apply(&a, 1);
    cr_assert_eq(swim_awareness_score(&a), 7);
    cr_assert_eq(swim_awareness_scale_ms(&a, 1000), 8000, "AwarenessMaxMultiplier 8: at most 8 s");
    swim_awareness_apply(&a, -100);
    cr_assert_eq(swim_awareness_score(&a), 0);
    swim_awareness_apply(&a, 2);
    swim_awareness_apply(&a, -1);
    cr_assert_eq(swim_awareness_score(&a), 1);
}

Test(swim_awareness, multiplier_one_never_degrades)
{
    struct swim_awareness a;
    swim_awareness_init(&a, 1);
    swim_awareness_apply(&a, 5);
    cr_assert_eq(swim_awareness_score(&a), 0);
}
