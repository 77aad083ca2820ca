/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78),
 * the checksum of every record the write-ahead log stores.
 *
 * CRC-32C rather than zlib's CRC-32 because x86 has an instruction for it
 * (SSE4.2 crc32): about 8 bytes per cycle-chain step, so checking a whole log
 * at start-up costs milliseconds, not seconds. The instruction is used when
 * the CPU has it (checked once, at the first call); otherwise a slicing-by-8
 * table does the same arithmetic. Both give identical results; the tests hold
 * them to each other and to published vectors (RFC 3720 appendix B.4).
 *
 * Convention: the usual one (initial value and final value xored with
 * 0xFFFFFFFF), applied inside each call, so that
 *     yard_crc32c(0, "123456789", 9) == 0xE3069283
 * and a checksum can be continued across buffers:
 *     yard_crc32c(yard_crc32c(0, a, na), b, nb) == yard_crc32c(0, a||b, na+nb).
 *
 * Who may call: anyone, any thread. The only state is built on first use
 * (the tables under pthread_once, the implementation pointer by an atomic
 * store of the same value from whichever thread comes first).
 */
#ifndef YARD_CRC32C_H
#define YARD_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C of p[0..n), continuing from crc (0 to start). Uses SSE4.2 when the
 * CPU has it. Cost: about n/8 crc32 instructions (a few GB/s on one core),
 * or a table lookup per byte group of 8 without SSE4.2.
 */
uint32_t yard_crc32c(uint32_t crc, const void *p, size_t n);

/* The portable slicing-by-8 implementation (same contract as yard_crc32c). */
uint32_t yard_crc32c_sw(uint32_t crc, const void *p, size_t n);

/* The SSE4.2 implementation. Only valid when yard_crc32c_hw_available(). */
uint32_t yard_crc32c_hw(uint32_t crc, const void *p, size_t n);

/* True when this CPU has the SSE4.2 crc32 instruction. */
bool yard_crc32c_hw_available(void);

#endif
