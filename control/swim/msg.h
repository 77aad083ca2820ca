/*
 * msg.h - memberlist's messages as C structs (shared/memberlist.md, sections
 * 3 and 4), the contract between the codec (wire.h) and the protocol
 * (members, probe, gossip, push/pull).
 *
 * Strings and byte fields point into the buffer they were decoded from
 * (decode) or into the caller's memory (encode): nothing here owns memory.
 * A byte field with ptr == NULL is "nil" (encoded c0); ptr != NULL with
 * len 0 is an empty raw string (a0).
 */
#ifndef YARD_SWIM_MSG_H
#define YARD_SWIM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first byte of every memberlist message (memberlist.md section 3). */
enum swim_msg_type {
    SWIM_MSG_PING = 0,
    SWIM_MSG_INDIRECT_PING = 1,
    SWIM_MSG_ACK = 2,
    SWIM_MSG_SUSPECT = 3,
    SWIM_MSG_ALIVE = 4,
    SWIM_MSG_DEAD = 5,
    SWIM_MSG_PUSH_PULL = 6,
    SWIM_MSG_COMPOUND = 7,
    SWIM_MSG_USER = 8,
    SWIM_MSG_COMPRESS = 9,
    SWIM_MSG_ENCRYPT = 10,
    SWIM_MSG_NACK = 11,
    SWIM_MSG_HAS_CRC = 12,
    SWIM_MSG_ERR = 13,
};

/* Member states as push/pull carries them. */
enum swim_state {
    SWIM_STATE_ALIVE = 0,
    SWIM_STATE_SUSPECT = 1,
    SWIM_STATE_DEAD = 2,
    SWIM_STATE_LEFT = 3,
};

#define SWIM_NAME_MAX 255 /* longest node name this implementation accepts */
#define SWIM_META_MAX 512 /* memberlist's MetaMaxSize */
#define SWIM_VSN_LEN  6   /* pmin pmax pcur dmin dmax dcur */

/* A length-delimited byte or string field; ptr == NULL means nil. */
struct swim_bytes {
    const uint8_t *ptr;
    uint32_t len;
};

struct swim_ping {
    struct swim_bytes node; /* target's name; empty: any */
    uint32_t seq_no;
    struct swim_bytes source_addr; /* omitempty: 4 (IPv4) or 16 bytes */
    struct swim_bytes source_node; /* omitempty */
    uint16_t source_port;          /* omitempty */
};

struct swim_indirect_ping {
    bool nack;
    struct swim_bytes node; /* target's name */
    uint16_t port;          /* target's port */
    uint32_t seq_no;
    struct swim_bytes source_addr; /* omitempty */
    struct swim_bytes source_node; /* omitempty */
    uint16_t source_port;          /* omitempty */
    struct swim_bytes target;      /* target's IP, raw bytes */
};

struct swim_ack {
    struct swim_bytes payload; /* nil allowed */
    uint32_t seq_no;
};

struct swim_nack {
    uint32_t seq_no;
};

struct swim_err {
    struct swim_bytes error;
};

struct swim_suspect {
    struct swim_bytes from;
    uint32_t incarnation;
    struct swim_bytes node;
};

struct swim_alive {
    struct swim_bytes addr;
    uint32_t incarnation;
    struct swim_bytes meta;
    struct swim_bytes node;
    uint16_t port;
    struct swim_bytes vsn; /* 6 bytes normally; decode accepts any length */
};

struct swim_dead {
    struct swim_bytes from;
    uint32_t incarnation;
    struct swim_bytes node;
};

struct swim_push_pull_header {
    bool join;
    uint32_t nodes;
    uint32_t user_state_len;
};

struct swim_push_node_state {
    struct swim_bytes addr;
    uint32_t incarnation;
    struct swim_bytes meta;
    struct swim_bytes name;
    uint16_t port;
    uint8_t state; /* enum swim_state */
    struct swim_bytes vsn;
};

struct swim_user_msg_header {
    uint32_t user_msg_len;
};

struct swim_compress {
    uint8_t algo; /* 0 = LZW */
    struct swim_bytes buf;
};

#endif
