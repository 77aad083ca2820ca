/*
 * metrics.h - Prometheus text exposition (format 0.0.4) of the appliance's
 * counters, for yard-control's /metrics.
 *
 * The numbers come from the shared-memory segment the dataplane writes
 * (per-lcore events, drops, class counters and latency histograms, per-port
 * counters, the header's directory gauges and heartbeat) plus whatever the
 * control plane adds about itself through a writer handed to a callback.
 * Names and help texts of events and drop reasons come from the X-macro
 * tables in yard_counters.h, so a counter added there appears here without
 * an edit.
 *
 * Families rendered from the segment (labels in braces; every per-lcore
 * series also carries role="worker"|"tx"|"agent"|"none"):
 *
 *   yard_dataplane_up                      1 while the dataplane's pid lives and
 *                                          its heartbeat is fresh, else 0 (always
 *                                          present, even without a segment)
 *   yard_dataplane_ready                   1 once its ports are up
 *   yard_dataplane_info{instance,mode}     always 1
 *   yard_dataplane_heartbeat_age_seconds, yard_dataplane_start_time_seconds,
 *   yard_dataplane_generation
 *   yard_directory_names, _locations, _capacity, _bytes
 *   yard_commands_applied_total, yard_commands_rejected_total,
 *   yard_command_applied_seq, yard_sync_swept_locations_total
 *   yard_<event>_total{lcore}              one family per event of YARD_EVENTS,
 *                                          except rx_messages -> yard_messages_total
 *                                          and routed -> yard_routed_messages_total
 *                                          (e.g. yard_rx_packets_total,
 *                                          yard_busy_cycles_total)
 *   yard_busy_seconds_total{lcore}         busy cycles / the TSC frequency
 *   yard_drops_total{lcore,reason}         one series per reason of YARD_DROP_REASONS
 *   yard_routed_total{lcore,class}, yard_tx_total{lcore,class},
 *   yard_class_dropped_total{lcore,class}
 *   yard_latency_seconds{lcore}            histogram, rx to tx inside the appliance
 *   yard_port_info{port,name,mac,address}  always 1
 *   yard_port_link_up, yard_port_link_speed_bytes{port,name}
 *   yard_port_{rx,tx}_{packets,bytes}_total, yard_port_rx_missed_total,
 *   yard_port_rx_errors_total, yard_port_tx_errors_total,
 *   yard_port_rx_nombuf_total{port,name}
 *
 * Latency buckets: the segment's log-linear histogram has about 530
 * buckets per lcore, too many for a scrape, so the exposition keeps a fixed
 * subset of its boundaries: every power of two from 256 ns to 2^35 ns and
 * the midpoint between each two (56 boundaries, plus +Inf). Boundaries
 * coincide with the histogram's own, so every `le` count is exact.
 *
 * Cost: with all 128 lcores in use, about 930 KB of text (20,000 lines)
 * in about 0.6 ms on the 2-core test machine (test_metrics measures it
 * and fails above 10 ms); three lcores, about 29 KB. No allocation but the
 * output's growth and one small array per scrape.
 *
 * Who may call what: the loop's thread (any single thread); reads the
 * segment without locks, as every reader does.
 */
#ifndef YARD_METRICS_H
#define YARD_METRICS_H

#include <stdint.h>

#include "http.h"
#include "yard_shm.h"

/* Heartbeat age past which yard_dataplane_up is 0 (same as yardctl's). */
#define YARD_METRICS_HEARTBEAT_MAX_AGE_NS 1000000000ull

/*
 * The handle through which the callback adds metrics. Samples may be added
 * in any order: each family's HELP and TYPE are written once and its
 * samples are grouped together when the output is assembled, as Prometheus
 * requires. A call that would break the format (bad name, counter without
 * _total, a family added again with another type, a name the segment's
 * families already use, malformed labels) writes nothing and returns
 * -EINVAL or -EEXIST; yard_metrics_render() reports the first such error.
 */
struct yard_metrics_writer;

/* The daemon's metrics, added with the functions below. */
typedef void (*yard_metrics_extra_fn)(struct yard_metrics_writer *w, void *arg);

/*
 * Append the exposition to out: the segment's families (only
 * yard_dataplane_up 0 when shm is NULL or unusable), then those added by
 * extra (NULL: none). The output is always complete and valid. Returns 0;
 * -ENOMEM if out failed to grow (out->oom); or the first error of a
 * writer call in extra (the offending samples are left out).
 */
int yard_metrics_render(struct yard_buf *out, const struct yard_shm *shm,
                        yard_metrics_extra_fn extra, void *arg);

/*
 * Add one sample. name: [a-zA-Z_:][a-zA-Z0-9_:]*, starting "yard_", at most
 * 95 bytes; counters end in "_total", gauges and histograms do not. help:
 * one line of text (escaped here); the first call of a family sets it.
 * labels: NULL or "" for none, else `key="value",...` as built by
 * yard_metrics_labels(). 0 or a negative errno (see above). O(families).
 */
int yard_metrics_counter(struct yard_metrics_writer *w, const char *name, const char *help,
                         const char *labels, uint64_t value);
/* A counter whose value is not an integer (e.g. seconds). */
int yard_metrics_counter_f(struct yard_metrics_writer *w, const char *name, const char *help,
                           const char *labels, double value);
int yard_metrics_gauge(struct yard_metrics_writer *w, const char *name, const char *help,
                       const char *labels, double value);

/*
 * One histogram series. le_s[0..n-1]: upper bounds in seconds, strictly
 * increasing; counts[0..n]: observations per bucket, NOT cumulative
 * (counts[i] fell in (le_s[i-1], le_s[i]], counts[n] above the last
 * bound); sum_s: the sum of the observations. Cumulative _bucket lines,
 * +Inf, _sum and _count are written here. labels must not use "le".
 */
int yard_metrics_histogram(struct yard_metrics_writer *w, const char *name, const char *help,
                           const char *labels, const double *le_s, const uint64_t *counts,
                           unsigned n, double sum_s);

/*
 * Build a label string from NULL-terminated key, value pairs, escaping the
 * values: yard_metrics_labels(buf, sizeof(buf), "peer", name, "state",
 * "alive", NULL) -> peer="n1",state="alive". 0, -ENOSPC if buf is too
 * small, -EINVAL for an invalid key. Pure.
 */
int yard_metrics_labels(char *buf, size_t len, ...) __attribute__((sentinel));

#endif
