/*
 * net.c - the instance's sockets and its UDP paths (memberlist's net.go
 * for packets).
 *
 * One port, two sockets: UDP for probes and gossip, TCP (listening) for
 * streams, bound to the same address and port as memberlist requires.
 * Sending follows memberlist's sendMsg/rawSendMsgPacket exactly: every
 * message we originate carries as many queued broadcasts as fit (that is
 * how news spreads at the speed of probes), then the packet is compressed
 * if that makes it shorter, CRC-prefixed for members that verify CRCs,
 * and encrypted. Receiving hands each datagram to packet.c, which peels
 * the layers and calls back here once per message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "swim_impl.h"
#include "wire.h"

static void fmt_addr(const struct sockaddr_in *a, char *buf, size_t len)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
}

/* Bind one UDP and one TCP socket on `at` (same port). */
static int bind_pair(struct swim *s, struct sockaddr_in *at, char *why, size_t whylen)
{
    char where[64];
    int udp = -1, tcp = -1, rc;
    const char *what = "UDP";

    udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp < 0)
        goto fail;
    if (bind(udp, (const struct sockaddr *)at, sizeof(*at)) < 0)
        goto fail;
    struct sockaddr_in got;
    socklen_t sl = sizeof(got);
    if (getsockname(udp, (struct sockaddr *)&got, &sl) < 0)
        goto fail;
    at->sin_port = got.sin_port;

    what = "TCP";
    tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp < 0)
        goto fail;
    int one = 1;
    setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(tcp, (const struct sockaddr *)at, sizeof(*at)) < 0)
        goto fail;
    if (listen(tcp, 128) < 0)
        goto fail;

    /* memberlist asks for a 2 MB receive buffer so bursts of gossip are
     * not lost; the kernel may cap it, which is fine. */
    int rcvbuf = 2 * 1024 * 1024;
    setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    s->udp_fd = udp;
    s->tcp_fd = tcp;
    return 0;
fail:
    rc = -errno;
    fmt_addr(at, where, sizeof(where));
    if (rc == -EADDRINUSE)
        snprintf(why, whylen,
                 "swim: cannot bind %s %s: address already in use (another process or gossip "
                 "instance has that port; choose another bind port)",
                 what, where);
    else if (rc == -EADDRNOTAVAIL)
        snprintf(why, whylen, "swim: cannot bind %s %s: no local interface has that address", what,
                 where);
    else
        snprintf(why, whylen, "swim: cannot bind %s %s: %s", what, where, strerror(-rc));
    if (udp >= 0)
        close(udp);
    if (tcp >= 0)
        close(tcp);
    return rc;
}

int swim_net_open(struct swim *s, char *why, size_t whylen)
{
    bool any_port = s->bind.sin_port == 0;
    int rc;
    /* Port 0: the kernel picks a free UDP port, which may be taken for TCP;
     * try a few. */
    for (int attempt = 0; attempt < (any_port ? 16 : 1); attempt++) {
        struct sockaddr_in at = s->bind;
        rc = bind_pair(s, &at, why, whylen);
        if (rc == 0) {
            s->bind = at;
            return 0;
        }
        if (rc != -EADDRINUSE)
            break;
    }
    return rc;
}

static void on_udp(struct yard_loop *loop, int fd, uint32_t events, void *arg);

int swim_net_start(struct swim *s)
{
    int rc = yard_loop_add(s->loop, s->udp_fd, EPOLLIN, on_udp, s);
    if (rc < 0)
        return rc;
    rc = yard_loop_add(s->loop, s->tcp_fd, EPOLLIN, swim_push_pull_on_accept, s);
    if (rc < 0)
        yard_loop_del(s->loop, s->udp_fd);
    return rc;
}

void swim_net_close(struct swim *s)
{
    if (s->udp_fd >= 0) {
        yard_loop_del(s->loop, s->udp_fd);
        close(s->udp_fd);
        s->udp_fd = -1;
    }
    if (s->tcp_fd >= 0) {
        yard_loop_del(s->loop, s->tcp_fd);
        close(s->tcp_fd);
        s->tcp_fd = -1;
    }
}

bool swim_node_sockaddr(const struct swim_node *n, struct sockaddr_in *out)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *ip4;
    if (n->m.addr_len == 4)
        ip4 = n->m.addr;
    else if (n->m.addr_len == 16 && memcmp(n->m.addr, v4_mapped, 12) == 0)
        ip4 = n->m.addr + 12; /* Go's 16-byte form of an IPv4 address */
    else
        return false; /* IPv6: our sockets are IPv4 */
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    memcpy(&out->sin_addr, ip4, 4);
    out->sin_port = htons(n->m.port);
    return true;
}

void swim_net_send_raw(struct swim *s, const struct sockaddr_in *to,
                       const struct swim_node *crc_node, const uint8_t *msg, size_t len)
{
    const uint8_t *p = msg;
    size_t plen = len;
    if (s->cfg.compress) {
        int n = swim_encode_compress(s->lzw, sizeof(s->lzw), msg, len);
        if (n > 0 && (size_t)n < len) {
            p = s->lzw;
            plen = (size_t)n;
        }
    }
    /* Protocol 5 added the CRC layer; only members advertising it get one. */
    bool crc = crc_node != NULL && crc_node->m.vsn[1] >= 5;
    int n =
        swim_packet_wrap(s->encrypted ? &s->keyring : NULL, crc, s->pkt, sizeof(s->pkt), p, plen);
    if (n < 0) {
        s->stats.udp_send_errors++;
        return;
    }
    if (sendto(s->udp_fd, s->pkt, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to)) < 0) {
        s->stats.udp_send_errors++;
        return;
    }
    s->stats.udp_packets_out++;
    s->stats.udp_bytes_out += (uint64_t)n;
}

void swim_net_send_msg(struct swim *s, const struct sockaddr_in *to,
                       const struct swim_node *to_node, const uint8_t *msg, size_t len)
{
    size_t reserve = len + SWIM_COMPOUND_HEADER + (s->encrypted ? SWIM_ENCRYPT_OVERHEAD : 0);
    const uint8_t *parts[SWIM_COMPOUND_MAX];
    size_t lens[SWIM_COMPOUND_MAX];
    unsigned n = 0;
    if (reserve < SWIM_UDP_BUDGET)
        n = swim_gossip_pull(s, to_node, SWIM_COMPOUND_OVERHEAD, SWIM_UDP_BUDGET - reserve,
                             parts + 1, lens + 1, SWIM_COMPOUND_MAX - 1);
    if (n == 0) {
        swim_net_send_raw(s, to, NULL, msg, len);
        return;
    }
    parts[0] = msg;
    lens[0] = len;
    int c = swim_encode_compound(s->compound, sizeof(s->compound), parts, lens, n + 1);
    if (c < 0) {
        swim_net_send_raw(s, to, NULL, msg, len);
        return;
    }
    swim_net_send_raw(s, to, NULL, s->compound, (size_t)c);
}

/* One message out of a datagram (packet.c peeled the layers). */
static void on_msg(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    struct swim *s = arg;
    switch (type) {
    case SWIM_MSG_PING:
        s->stats.msg_ping_in++;
        swim_probe_handle_ping(s, body, len);
        return;
    case SWIM_MSG_INDIRECT_PING:
        s->stats.msg_indirect_ping_in++;
        swim_probe_handle_indirect(s, body, len);
        return;
    case SWIM_MSG_ACK: {
        struct swim_ack m;
        s->stats.msg_ack_in++;
        if (swim_decode_ack(body, len, &m) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        swim_probe_handle_ack(s, m.seq_no);
        return;
    }
    case SWIM_MSG_NACK: {
        struct swim_nack m;
        s->stats.msg_nack_in++;
        if (swim_decode_nack(body, len, &m) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        swim_probe_handle_nack(s, m.seq_no);
        return;
    }
    case SWIM_MSG_SUSPECT: {
        struct swim_suspect m;
        s->stats.msg_suspect_in++;
        if (swim_decode_suspect(body, len, &m) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        swim_members_on_suspect(&s->members, &m);
        return;
    }
    case SWIM_MSG_ALIVE: {
        struct swim_alive m;
        s->stats.msg_alive_in++;
        if (swim_decode_alive(body, len, &m) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        if (m.port == 0) /* protocol 1 peers: the port is ours (memberlist) */
            m.port = ntohs(s->bind.sin_port);
        swim_members_on_alive(&s->members, &m, false);
        return;
    }
    case SWIM_MSG_DEAD: {
        struct swim_dead m;
        s->stats.msg_dead_in++;
        if (swim_decode_dead(body, len, &m) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        swim_members_on_dead(&s->members, &m);
        return;
    }
    case SWIM_MSG_USER:
        s->stats.msg_user_in++;
        if (s->delegate.on_user_msg != NULL)
            s->delegate.on_user_msg(s->delegate.arg, body, len);
        return;
    default:
        return; /* packet.c counts the types it does not pass on */
    }
}

static void on_udp(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct swim *s = arg;
    for (int i = 0; i < SWIM_UDP_BATCH; i++) {
        socklen_t sl = sizeof(s->rx_from);
        ssize_t n =
            recvfrom(fd, s->rx, sizeof(s->rx), MSG_TRUNC, (struct sockaddr *)&s->rx_from, &sl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            continue; /* an ICMP error from an earlier send, say */
        }
        if (n == 0)
            continue; /* memberlist drops empty datagrams */
        s->stats.udp_packets_in++;
        s->stats.udp_bytes_in += (uint64_t)n;
        if ((size_t)n > sizeof(s->rx)) {
            s->stats.packet.packets_in++;
            s->stats.packet.drops[SWIM_PACKET_DROP_TOO_BIG]++;
            continue;
        }
        swim_packet_unwrap(s->encrypted ? &s->keyring : NULL, s->rx, (size_t)n, on_msg, s,
                           &s->stats.packet);
    }
}
