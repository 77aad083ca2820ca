/*
 * swim_impl.h - the insides of one swim instance, shared by the files that
 * implement its protocol concerns: net.c (UDP send and receive paths),
 * probe.c (failure detection), gossip.c (dissemination), stream.c (one
 * TCP exchange on the loop), pushpull.c (state exchange, joins, inbound
 * streams) and swim.c (the public API, swim.h).
 *
 * Not a public contract: only those files include it. Everything runs on
 * the loop thread. Buffers used on the send path live here so that no
 * packet allocates; the send path is never re-entered (nothing it calls
 * sends), so one set is enough.
 */
#ifndef YARD_SWIM_IMPL_H
#define YARD_SWIM_IMPL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awareness.h"
#include "broadcast.h"
#include "keyring.h"
#include "members.h"
#include "packet.h"
#include "rand.h"
#include "swim.h"
#include "timers.h"

struct yard_loop;
struct swim_stream;

/* memberlist's packet budget (UDPBufferSize) and its compound overheads. */
#define SWIM_UDP_BUDGET        1400
#define SWIM_COMPOUND_HEADER   2 /* compoundHeaderOverhead */
#define SWIM_COMPOUND_OVERHEAD 2 /* compoundOverhead, per part */
#define SWIM_USER_MSG_OVERHEAD 1 /* the 08 type byte */
#define SWIM_COMPOUND_MAX      255
/* Inbound streams served at once (memberlist's maxPushPullRequests). */
#define SWIM_STREAMS_IN_MAX 128
/* Indirect pings relayed at once for other members; more are dropped. */
#define SWIM_RELAYS_MAX 1024
/* Datagrams read per readiness callback, so one busy socket cannot starve
 * the loop's other work. */
#define SWIM_UDP_BATCH 64
/* The most user state a push/pull may carry from the delegate. */
#define SWIM_USER_STATE_MAX (1u << 20)

/* An indirect ping we relay: our ping's seq -> the requester's ack/nack. */
struct swim_relay {
    struct swim_relay *next;
    struct swim *s;
    uint32_t seq;      /* our ping to the target */
    uint32_t orig_seq; /* the requester's probe */
    bool nack;         /* the requester wants a nack after probe_timeout_ms */
    struct sockaddr_in requester;
    char requester_name[SWIM_NAME_MAX + 1];
    struct swim_timer timer;
};

struct swim_probe {
    struct swim_timer tick;    /* next probe */
    struct swim_timer timeout; /* probe_timeout_ms after the ping */
    bool active;               /* waiting for an ack for `seq` */
    uint32_t seq;
    struct swim_node *target;
    uint32_t target_inc;  /* the target's incarnation when probed */
    uint8_t target_state; /* and its state */
    uint64_t deadline_ms; /* one scaled probe interval after the ping */
    unsigned expected_nacks, nacks;
    struct swim_stream *tcp; /* the fallback ping, while open */
    struct swim_relay *relays, *relay_free;
    unsigned nb_relays;
};

struct swim_join_target {
    struct swim *s;
    struct sockaddr_in addr;
    unsigned backoff_ms;
    bool in_flight;
    struct swim_timer retry;
};

struct swim {
    struct yard_loop *loop;
    struct swim_config cfg;
    struct swim_keyring keyring;
    bool encrypted;
    struct swim_delegate delegate;
    char name[SWIM_NAME_MAX + 1];
    struct sockaddr_in bind; /* what the sockets are bound to */
    struct sockaddr_in adv;  /* what we announce */
    int udp_fd, tcp_fd;
    bool destroying;

    struct swim_rand rand;
    struct swim_timers timers;
    struct swim_awareness awareness;
    struct swim_bcast_queue bcast;      /* membership news */
    struct swim_bcast_queue user_bcast; /* delegate's messages */
    struct swim_members members;
    struct swim_stats stats;
    uint32_t seq_no; /* last ping sequence number used */

    struct swim_probe probe;
    struct swim_timer gossip_tick;
    struct swim_timer push_pull_tick;

    struct swim_stream *streams; /* open streams, both directions */
    struct swim_stream *stream_free;
    unsigned nb_streams_in;

    struct swim_join_target *joins;
    unsigned nb_joins;
    bool joined;

    bool leave_started, left;
    struct swim_timer leave_timer;

    /* Receive path. */
    struct sockaddr_in rx_from;
    uint8_t rx[SWIM_PACKET_MAX];
    /* Send path (see the top comment). */
    uint8_t enc[SWIM_UDP_BUDGET * 2];       /* one encoded message */
    uint8_t parts_buf[SWIM_UDP_BUDGET * 2]; /* broadcasts pulled for one packet */
    uint8_t compound[SWIM_UDP_BUDGET * 2];
    uint8_t lzw[SWIM_UDP_BUDGET * 4];
    uint8_t pkt[SWIM_UDP_BUDGET * 4 + 64];
    /* Push/pull: our state as sent, and the decoded remote list. */
    uint8_t *pp_buf;
    size_t pp_cap;
    uint8_t *user_state;
    struct swim_push_node_state *pp_nodes;
    unsigned pp_nodes_cap;
};

/* ---- net.c: sockets and the UDP paths */

/* Bind UDP and TCP on s->bind (same port), filling s->bind's port if it
 * was 0. 0 or -errno with why naming the address. */
int swim_net_open(struct swim *s, char *why, size_t whylen);
/* Watch both sockets on the loop. 0 or -errno. */
int swim_net_start(struct swim *s);
void swim_net_close(struct swim *s);

/* The member's UDP/TCP address (IPv4, or IPv4 in the 16-byte mapped form);
 * false for IPv6, which our IPv4 sockets cannot reach. */
bool swim_node_sockaddr(const struct swim_node *n, struct sockaddr_in *out);

/*
 * memberlist's sendMsg: msg plus as many queued broadcasts as fit the
 * packet (user broadcasts only if `to_node` is known and wants them), no
 * CRC (memberlist cannot map these destinations to a node either).
 */
void swim_net_send_msg(struct swim *s, const struct sockaddr_in *to,
                       const struct swim_node *to_node, const uint8_t *msg, size_t len);

/* memberlist's rawSendMsgPacket: compress if that is shorter, CRC when
 * crc_node advertises pmax >= 5, encrypt, send. */
void swim_net_send_raw(struct swim *s, const struct sockaddr_in *to,
                       const struct swim_node *crc_node, const uint8_t *msg, size_t len);

/* The next ping sequence number (first is 1). */
static inline uint32_t swim_next_seq(struct swim *s)
{
    return ++s->seq_no;
}

/* ---- probe.c: failure detection */

void swim_probe_init(struct swim *s);
/* Start probing after a random delay below one interval. */
void swim_probe_start(struct swim *s);
void swim_probe_stop(struct swim *s);
void swim_probe_handle_ping(struct swim *s, const uint8_t *body, size_t len);
void swim_probe_handle_indirect(struct swim *s, const uint8_t *body, size_t len);
void swim_probe_handle_ack(struct swim *s, uint32_t seq);
void swim_probe_handle_nack(struct swim *s, uint32_t seq);
/* The TCP fallback ping ended: acked or not. */
void swim_probe_tcp_result(struct swim *s, uint32_t seq, bool acked);

/* ---- gossip.c: dissemination */

void swim_gossip_start(struct swim *s);
void swim_gossip_stop(struct swim *s);
/*
 * memberlist's getBroadcasts: membership broadcasts, then (if room and
 * dest wants them) user broadcasts prefixed with 08, into s->parts_buf.
 * Returns the number of parts.
 */
unsigned swim_gossip_pull(struct swim *s, const struct swim_node *dest, size_t overhead,
                          size_t limit, const uint8_t **parts, size_t *lens, unsigned max_parts);

/* ---- pushpull.c: TCP state exchange, joins, inbound streams */

void swim_push_pull_start(struct swim *s);
void swim_push_pull_stop(struct swim *s);
/* Accept inbound streams (the listening socket's callback). */
void swim_push_pull_on_accept(struct yard_loop *loop, int fd, uint32_t events, void *arg);
/* Start a push/pull with addr; join_idx >= 0: it is that join target's
 * attempt. peer: the member, if known. 0 or -errno. */
int swim_push_pull_begin(struct swim *s, const struct sockaddr_in *addr, bool join, int join_idx,
                         const struct swim_node *peer);
/* Start the TCP fallback ping of the current probe. */
struct swim_stream *swim_push_pull_tcp_ping(struct swim *s, const struct swim_node *target,
                                            const uint8_t *ping, size_t len, uint32_t seq,
                                            uint64_t deadline_ms);
int swim_join_start(struct swim *s, const struct sockaddr_in *addrs, unsigned n);
void swim_join_stop(struct swim *s);

#endif
