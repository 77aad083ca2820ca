/*
 * wire.h - memberlist's messages on the wire: the go-msgpack 0.5.5 dialect
 * (shared/memberlist.md section 2) for every struct in msg.h, and the
 * layers around a message: compound (7), CRC (12), LZW compression (9) and
 * AES-GCM encryption (keyring.h).
 *
 * Encoders write exactly what memberlist writes: maps with keys sorted by
 * byte order, omitempty fields left out, old-style raw strings (a0+n, da,
 * db; never d9 or bin) for strings and bytes alike, smallest unsigned ints.
 * Decoders are as tolerant as Go's: keys in any order, unknown keys
 * skipped, c0 and missing keys give zero, bin and str8 accepted, any
 * integer width that fits.
 *
 * Costs: no allocation anywhere; encoders write into the caller's buffer,
 * decoders point into the input. Any thread; no state.
 */
#ifndef YARD_SWIM_WIRE_H
#define YARD_SWIM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * Encoders: write the type byte and the msgpack body into out[0..cap).
 * Return the length written, or -ENOSPC when cap is too small.
 */
int swim_encode_ping(uint8_t *out, size_t cap, const struct swim_ping *m);
int swim_encode_indirect_ping(uint8_t *out, size_t cap, const struct swim_indirect_ping *m);
int swim_encode_ack(uint8_t *out, size_t cap, const struct swim_ack *m);
int swim_encode_nack(uint8_t *out, size_t cap, const struct swim_nack *m);
int swim_encode_err(uint8_t *out, size_t cap, const struct swim_err *m);
int swim_encode_suspect(uint8_t *out, size_t cap, const struct swim_suspect *m);
int swim_encode_alive(uint8_t *out, size_t cap, const struct swim_alive *m);
int swim_encode_dead(uint8_t *out, size_t cap, const struct swim_dead *m);
/* `06` + header; the node states and user state follow (below). */
int swim_encode_push_pull_header(uint8_t *out, size_t cap, const struct swim_push_pull_header *m);
/* One pushNodeState map, no type byte. */
int swim_encode_push_node_state(uint8_t *out, size_t cap, const struct swim_push_node_state *m);
/* `08` + userMsgHeader (the stream form of a user message; its bytes follow). */
int swim_encode_user_msg_header(uint8_t *out, size_t cap, const struct swim_user_msg_header *m);
/* `08` + payload: the packet form of a user message. */
int swim_encode_user(uint8_t *out, size_t cap, const uint8_t *payload, size_t len);

/*
 * Decoders: `in` is the msgpack body *after* the type byte. Return the
 * bytes consumed (the map's length), -EAGAIN when in[0..len) ends inside
 * the map (a stream reader reads more and retries), -EBADMSG when the bytes
 * are not such a map.
 */
int swim_decode_ping(const uint8_t *in, size_t len, struct swim_ping *m);
int swim_decode_indirect_ping(const uint8_t *in, size_t len, struct swim_indirect_ping *m);
int swim_decode_ack(const uint8_t *in, size_t len, struct swim_ack *m);
int swim_decode_nack(const uint8_t *in, size_t len, struct swim_nack *m);
int swim_decode_err(const uint8_t *in, size_t len, struct swim_err *m);
int swim_decode_suspect(const uint8_t *in, size_t len, struct swim_suspect *m);
int swim_decode_alive(const uint8_t *in, size_t len, struct swim_alive *m);
int swim_decode_dead(const uint8_t *in, size_t len, struct swim_dead *m);
int swim_decode_push_pull_header(const uint8_t *in, size_t len, struct swim_push_pull_header *m);
int swim_decode_push_node_state(const uint8_t *in, size_t len, struct swim_push_node_state *m);
int swim_decode_user_msg_header(const uint8_t *in, size_t len, struct swim_user_msg_header *m);
int swim_decode_compress(const uint8_t *in, size_t len, struct swim_compress *m);

/*
 * The length of the one msgpack object at in[0..len): > 0, -EAGAIN if it
 * is incomplete, -EBADMSG if it is not msgpack. For stream readers.
 */
int swim_msgpack_object_len(const uint8_t *in, size_t len);

/* IEEE 802.3 CRC32 (zlib's crc32(0, buf, len)), as the CRC layer uses it. */
uint32_t swim_crc32(const uint8_t *buf, size_t len);

/*
 * Compound: `07`, n, n big-endian u16 lengths, the parts. n in 1..255,
 * each part < 65536 bytes. Returns the length or -ENOSPC / -EINVAL.
 */
int swim_encode_compound(uint8_t *out, size_t cap, const uint8_t *const *parts, const size_t *lens,
                         unsigned n);

/* The CRC layer: `0c`, CRC32 (BE) of in, in. Returns the length or -ENOSPC. */
int swim_encode_crc(uint8_t *out, size_t cap, const uint8_t *in, size_t len);

/*
 * LZW as Go's compress/lzw (LSB first, literal width 8) writes and reads
 * it (memberlist.md 4.4). swim_lzw_compress() starts with a clear code,
 * ends with the end code; returns the length or -ENOSPC.
 * swim_lzw_decompress() returns the length or -ENOSPC (output would exceed
 * cap) / -EBADMSG (corrupt stream).
 */
int swim_lzw_compress(uint8_t *out, size_t cap, const uint8_t *in, size_t len);
int swim_lzw_decompress(uint8_t *out, size_t cap, const uint8_t *in, size_t len);

/*
 * `09` {Algo: 0, Buf: LZW(in)}: the compress layer. Length or -ENOSPC.
 * The LZW output is written behind room for the largest header, so cap
 * must exceed the result by up to 4 bytes. in must not overlap out.
 */
int swim_encode_compress(uint8_t *out, size_t cap, const uint8_t *in, size_t len);

#endif
