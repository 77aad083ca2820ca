/*
 * cksum.h - incremental Internet checksum updates (RFC 1624, eqn. 3).
 *
 * Forwarding changes a handful of 16-bit words of a datagram (addresses,
 * ports, the ttl byte of the envelope) and leaves the body alone, so the UDP
 * checksum is adjusted for those words instead of being summed again over
 * the whole payload: cost independent of message size.
 *
 * All words are taken exactly as they sit in memory (raw 16-bit loads):
 * one's complement sums are byte-order independent as long as the old
 * checksum, the words and the result are all in the same (memory) order.
 */
#ifndef YARD_CKSUM_H
#define YARD_CKSUM_H

#include <stdint.h>
#include <string.h>

/* Running sum for an adjustment: start from the old checksum. */
static inline uint32_t yard_cksum_begin(uint16_t old_cksum)
{
    return (uint16_t)~old_cksum;
}

/* Account for one 16-bit word changing from old to new. */
static inline uint32_t yard_cksum_word(uint32_t sum, uint16_t old_word, uint16_t new_word)
{
    return sum + (uint16_t)~old_word + new_word;
}

/* Account for a 32-bit field (e.g. an IPv4 address) changing. */
static inline uint32_t yard_cksum_u32(uint32_t sum, uint32_t old_val, uint32_t new_val)
{
    sum = yard_cksum_word(sum, (uint16_t)old_val, (uint16_t)new_val);
    return yard_cksum_word(sum, (uint16_t)(old_val >> 16), (uint16_t)(new_val >> 16));
}

/*
 * Account for one byte at `offset` from the start of the checksummed area
 * changing: at an even offset it is the first byte of its 16-bit word in
 * memory, at an odd offset the second.
 */
static inline uint32_t yard_cksum_byte(uint32_t sum, unsigned offset, uint8_t old_byte,
                                       uint8_t new_byte)
{
    /* Built arithmetically: assembling the word through memory costs a
     * store-forwarding stall on every packet. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    unsigned shift = (offset & 1) ? 8 : 0;
#else
    unsigned shift = (offset & 1) ? 0 : 8;
#endif
    return yard_cksum_word(sum, (uint16_t)(old_byte << shift), (uint16_t)(new_byte << shift));
}

/*
 * One's complement sum of a 20-byte IPv4 header (no options), unfolded to
 * 16 bits: 0xffff for a header whose checksum is right. Five 32-bit loads
 * instead of a generic loop.
 */
static inline uint16_t yard_ipv4_hdr_sum(const void *hdr)
{
    /* The header sits at offset 14, not 4-byte aligned: one unaligned load
     * per word (a single memcpy of all five would go through the stack). */
    const uint8_t *b = (const uint8_t *)hdr;
    uint64_t sum = 0;
    for (unsigned i = 0; i < 20; i += 4) {
        uint32_t w;
        memcpy(&w, b + i, sizeof(w));
        sum += w;
    }
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* Fold and complement into the new checksum. */
static inline uint16_t yard_cksum_end(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/*
 * For UDP over IPv4: 0 means "no checksum" and must stay 0; a computed 0 is
 * sent as 0xffff (RFC 768).
 */
static inline uint16_t yard_udp_cksum_end(uint32_t sum)
{
    uint16_t c = yard_cksum_end(sum);
    return c == 0 ? 0xffff : c;
}

#endif
