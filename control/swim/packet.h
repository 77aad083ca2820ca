/*
 * packet.h - the layers around memberlist's messages: what a UDP datagram
 * or a TCP stream carries before the message itself (memberlist.md 4.1,
 * 4.5 and 5).
 *
 * UDP, receiving: decrypt (when a keyring is configured) -> verify and
 * strip the CRC (`0c`) -> dispatch, where compound (`07`) and compress
 * (`09`) open into more messages, nested in any order, up to
 * SWIM_PACKET_MAX_DEPTH deep. Each message at the leaves is handed to a
 * callback; everything dropped on the way is counted by reason.
 * UDP, sending: CRC (for peers with pmax >= 5) -> encrypt.
 *
 * TCP: a stream carries one message, optionally compressed (`09`) and then
 * encrypted (`0a` | u32 length | blob). Nothing frames a plaintext stream
 * message but its own msgpack, so swim_stream_message_len() finds where it
 * ends.
 *
 * Who may call: any thread; nothing here keeps state (the keyring is only
 * read). No allocation except libcrypto's per-call cipher context.
 */
#ifndef YARD_SWIM_PACKET_H
#define YARD_SWIM_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

/* memberlist's UDP receive buffer: longer datagrams are never whole. */
#define SWIM_PACKET_MAX 65536
/* Decompressed bytes one packet may hold, all compress layers together. */
#define SWIM_PACKET_DECOMPRESS_MAX 65536
/* Compound and compress layers one packet may nest. */
#define SWIM_PACKET_MAX_DEPTH 4
/* memberlist's maxPushStateBytes: the largest stream message accepted. */
#define SWIM_STREAM_MAX (20u << 20)

/* Why a packet, or a part of one, was dropped. X(ENUM, "name", "help text") */
#define SWIM_PACKET_DROPS(X)                                                                      \
    X(TOO_BIG, "too_big", "datagram longer than memberlist's 64 KiB receive buffer")              \
    X(DECRYPT_FAILED, "decrypt_failed", "encrypted packet no installed key authenticates")        \
    X(PLAINTEXT_REFUSED, "plaintext_refused", "unencrypted packet while a keyring is configured") \
    X(BAD_CRC, "bad_crc", "CRC32 of the packet does not match its 0c header")                     \
    X(BAD_COMPRESS, "bad_compress", "compress layer unreadable: bad map, algorithm or LZW")       \
    X(COMPRESS_TOO_BIG, "compress_too_big",                                                       \
      "decompressed contents over the 64 KiB a packet may expand to")                             \
    X(TRUNCATED_COMPOUND, "truncated_compound",                                                   \
      "compound parts (or its header) cut off by the end of the packet, counted per part")        \
    X(TOO_DEEP, "too_deep", "compound and compress layers nested more than 4 deep")               \
    X(UNKNOWN_TYPE, "unknown_type", "message type memberlist does not accept in a UDP packet")    \
    X(BAD_MESSAGE, "bad_message", "empty message (no type byte)")

enum swim_packet_drop {
#define SWIM_X_ENUM(e, name, help) SWIM_PACKET_DROP_##e,
    SWIM_PACKET_DROPS(SWIM_X_ENUM)
#undef SWIM_X_ENUM
        SWIM_PACKET_DROP_MAX
};

/* Counters of one receiver. Plain integers: the receiving thread owns them. */
struct swim_packet_stats {
    uint64_t packets_in;  /* datagrams passed to swim_packet_unwrap() */
    uint64_t messages_in; /* leaf messages handed to the callback */
    uint64_t drops[SWIM_PACKET_DROP_MAX];
};

/* The name and help text of a drop reason (NULL when out of range). */
const char *swim_packet_drop_name(enum swim_packet_drop d);
const char *swim_packet_drop_help(enum swim_packet_drop d);

/*
 * Called once per leaf message: type is its first byte (one of ping,
 * indirect ping, ack, suspect, alive, dead, user, nack), body the bytes
 * after it. body points into the packet or into unwrap's own buffers:
 * valid only during the call.
 */
typedef void (*swim_packet_msg_fn)(void *arg, uint8_t type, const uint8_t *body, size_t body_len);

/*
 * Opens a received datagram and calls fn for every message in it, in
 * order. kr NULL or empty: no encryption, and an encrypted packet is just
 * unreadable; kr with keys: the packet must decrypt (plaintext is refused,
 * as memberlist's GossipVerifyIncoming). st may be NULL.
 *
 * A bad part of a compound drops only that part. Decompression may expand
 * to SWIM_PACKET_DECOMPRESS_MAX bytes in all; more is dropped. Uses about
 * 160 KiB of stack (decrypted copy, decompression space, LZW tables), no
 * heap. Returns the number of messages handed to fn (drops are counted in
 * st), or -EINVAL when fn is NULL.
 */
int swim_packet_unwrap(const struct swim_keyring *kr, const uint8_t *pkt, size_t len,
                       swim_packet_msg_fn fn, void *arg, struct swim_packet_stats *st);

/*
 * Builds a datagram from one message (or compound, or compress): the CRC
 * layer when crc, then encryption when kr has keys (UDP form: the blob
 * alone, no additional data). msg may overlap out. Needs cap >= len + 5
 * (crc) + SWIM_ENCRYPT_OVERHEAD (encrypted). Returns the length, -ENOSPC,
 * -EMSGSIZE (over SWIM_PACKET_MAX) or -EIO.
 */
int swim_packet_wrap(const struct swim_keyring *kr, bool crc, uint8_t *out, size_t cap,
                     const uint8_t *msg, size_t len);

/*
 * Builds what a TCP stream carries for one message: `09 {Algo: 0, Buf}`
 * when compress (always, even when longer: memberlist does the same), then
 * `0a | u32 BE L | blob` when kr has keys, the 5 header bytes being the
 * blob's additional data. msg may overlap out only without compress.
 * Returns the length, -ENOSPC, -EMSGSIZE (over SWIM_STREAM_MAX) or -EIO.
 */
int swim_stream_wrap(const struct swim_keyring *kr, bool compress, uint8_t *out, size_t cap,
                     const uint8_t *msg, size_t len);

/*
 * Reads one message from the start of what a stream delivered so far,
 * in[0..len). Unwraps `0a` (with kr) and then `09`, each at most once, as
 * memberlist does; the result goes to *msg / *msg_len: into scratch when
 * unwrapped (decrypted plaintext, then decompressed bytes after it), into
 * in otherwise. *msg_len is the message's own length
 * (swim_stream_message_len()).
 *
 * Returns the bytes of in the message took (call again with the rest for
 * a next one), -EAGAIN (incomplete: read more and call again with all of
 * it), -EACCES (plaintext while kr has keys), -ENOSPC (scratch too small
 * for the decrypted or decompressed message) or -EBADMSG (anything else:
 * encrypted without keys, no key fits, length over SWIM_STREAM_MAX,
 * corrupt compression, not a stream message). Cost: re-parses from the
 * start each call; call it when a read completes, not per byte.
 */
int swim_stream_unwrap(const struct swim_keyring *kr, const uint8_t *in, size_t len,
                       uint8_t *scratch, size_t scratch_cap, const uint8_t **msg, size_t *msg_len);

/*
 * The full length of the plaintext stream message at msg[0..len): 06
 * push/pull (header, Nodes node-state maps, UserStateLen raw bytes), 00
 * ping, 02 ack, 08 user (header and UserMsgLen bytes), 0d error. Returns
 * it, -EAGAIN when len does not reach its end yet, or -EBADMSG (another
 * type, an undecodable map, or longer than SWIM_STREAM_MAX).
 */
int swim_stream_message_len(const uint8_t *msg, size_t len);

#endif
