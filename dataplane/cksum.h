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
    uint16_t o, n;
    uint8_t *po = (uint8_t *)&o, *pn = (uint8_t *)&n;
    po[0] = pn[0] = po[1] = pn[1] = 0;
    po[offset & 1] = old_byte;
    pn[offset & 1] = new_byte;
    return yard_cksum_word(sum, o, n);
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
