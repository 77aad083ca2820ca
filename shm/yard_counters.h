/*
 * yard_counters.h - the one list of Switchyard's counters and drop reasons.
 *
 * Every drop has a reason, defined once here with its help text. The
 * dataplane counts into these slots, `yardctl stats` prints them, telemetry
 * and the Prometheus exporter name them from the same table: one list, every
 * view. Appending a reason is ABI-compatible (readers use the count stored in
 * the shm header); reordering or removing one requires a new ABI version.
 */
#ifndef YARD_COUNTERS_H
#define YARD_COUNTERS_H

/* X(ENUM, "name", "help text") */
#define YARD_DROP_REASONS(X)                                                                      \
    X(BAD_FRAME, "bad_frame", "frame too short or of an EtherType the appliance does not handle") \
    X(BAD_IP, "bad_ip", "IPv4 header invalid: version, length, checksum or options")              \
    X(IP_FRAGMENT, "ip_fragment", "IPv4 fragment; messages must fit one datagram")                \
    X(NOT_FOR_US, "not_for_us", "IPv4 packet not addressed to the appliance's data port")         \
    X(BAD_ENVELOPE, "bad_envelope", "UDP payload is not a valid message envelope")                \
    X(BAD_KIND, "bad_kind", "envelope kind an application may not send to the router")            \
    X(NO_ROUTE, "no_route", "destination name not in the directory")                              \
    X(TTL_EXPIRED, "ttl_expired", "ttl would reach 0 on forwarding")                              \
    X(NO_NEIGHBOR, "no_neighbor", "next hop MAC unresolved after ARP retries or hold full")       \
    X(TOO_BIG, "too_big", "message too big: over the egress MTU or the punt record")              \
    X(SHED, "shed", "class admission: tx queue above this class's watermark")                     \
    X(QUEUE_FULL, "queue_full", "class queue completely full (class 0 is dropped only here)")     \
    X(TX_FULL, "tx_full", "NIC transmit queue refused the packet")                                \
    X(PUNT_FULL, "punt_full", "slow-path ring to the agent or control plane full")                \
    X(ARP_IGNORED, "arp_ignored", "ARP packet not for the appliance's addresses")                 \
    X(PUNT_RATE_LIMITED, "punt_rate_limited",                                                     \
      "control message over its source address's rate limit")                                     \
    X(NO_MBUF, "no_mbuf", "no mbuf for a topic copy's headers or a control-plane reply")          \
    X(BAD_REPLY, "bad_reply", "reply from the control plane unusable (port, length)")             \
    X(FANOUT_NOT_MEMBER, "fanout_not_member",                                                     \
      "FANOUT datagram whose source is not a cluster member's data address")

enum yard_drop_reason {
#define YARD_X_ENUM(e, name, help) YARD_DROP_##e,
    YARD_DROP_REASONS(YARD_X_ENUM)
#undef YARD_X_ENUM
        YARD_DROP_MAX
};

/* Events that are not drops, counted per lcore. */
#define YARD_EVENTS(X)                                                                   \
    X(RX_PACKETS, "rx_packets", "frames received from ports")                            \
    X(RX_MESSAGES, "rx_messages", "valid envelopes received (any kind)")                 \
    X(ROUTED, "routed", "messages looked up and queued to send (or held for ARP)")       \
    X(TX_PACKETS, "tx_packets", "frames handed to the NIC and accepted")                 \
    X(PUNTED, "punted", "control messages (kinds 1-4) passed to the control plane")      \
    X(ARP_RX, "arp_rx", "ARP packets received for the appliance's addresses")            \
    X(ARP_REPLIES, "arp_replies", "ARP replies sent for the appliance's addresses")      \
    X(ARP_REQUESTS, "arp_requests", "ARP requests sent to resolve next hops")            \
    X(HELD, "held", "packets held while their next hop was being resolved")              \
    X(BUSY_POLLS, "busy_polls", "poll loops that received at least one packet")          \
    X(IDLE_POLLS, "idle_polls", "poll loops that received nothing")                      \
    X(BUSY_CYCLES, "busy_cycles", "TSC cycles spent in loops that received packets")     \
    X(IDLE_SLEEPS, "idle_sleeps", "back-off sleeps taken while idle")                    \
    X(FANOUT_COPIES, "fanout_copies", "topic copies made (one per subscriber location)") \
    X(REPLIES_SENT, "replies_sent", "ACK/NACK datagrams sent for the control plane")

enum yard_event {
#define YARD_X_ENUM(e, name, help) YARD_EV_##e,
    YARD_EVENTS(YARD_X_ENUM)
#undef YARD_X_ENUM
        YARD_EV_MAX
};

#define YARD_NB_CLASSES 4

/* Name and help text of a drop reason or event; NULL when out of range
 * (e.g. a slot a newer dataplane uses). Static strings; any thread. */
const char *yard_drop_name(unsigned reason);
const char *yard_drop_help(unsigned reason);
const char *yard_event_name(unsigned event);
const char *yard_event_help(unsigned event);

#endif
