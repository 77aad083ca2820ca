/*
 * keyring.h - memberlist's encryption keyring (memberlist.md 4.5): up to 16
 * AES keys, the first of which (the primary) encrypts, all of which are
 * tried when decrypting, so a cluster can rotate keys without a flag day
 * (add the new key everywhere, make it primary everywhere, remove the old).
 *
 * An encrypted blob is vsn(1) | nonce(12) | ciphertext | tag(16), AES-GCM
 * with the key's size choosing AES-128/192/256. This side writes vsn 1 (no
 * padding, as serf does); it reads vsn 0 (PKCS#7-padded plaintext, sent by
 * memberlist protocol version 1) and vsn 1.
 *
 * Who may call: the keyring is plain memory owned by its user. Functions
 * that change it must not run concurrently with any other use of the same
 * keyring; swim_encrypt() and swim_decrypt() only read it and may run in
 * several threads at once. Cost: one OpenSSL cipher context per call (a
 * small allocation inside libcrypto) and one AES key schedule per key tried.
 */
#ifndef YARD_SWIM_KEYRING_H
#define YARD_SWIM_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#define SWIM_KEYRING_MAX      16 /* keys one ring holds */
#define SWIM_KEY_MAX          32 /* AES-256 */
#define SWIM_ENCRYPT_NONCE    12
#define SWIM_ENCRYPT_TAG      16
#define SWIM_ENCRYPT_HEADER   13 /* vsn + nonce: where the ciphertext starts */
#define SWIM_ENCRYPT_OVERHEAD 29 /* what vsn 1 adds to a plaintext */
#define SWIM_ENCRYPT_MIN_V0   45 /* shortest vsn 0 blob: one block of padding */

struct swim_key {
    uint8_t len; /* 16, 24 or 32 */
    uint8_t bytes[SWIM_KEY_MAX];
};

struct swim_keyring {
    unsigned count;                         /* 0: encryption off */
    struct swim_key keys[SWIM_KEYRING_MAX]; /* keys[0] is the primary */
};

/* Empties kr: no keys, encryption off. */
void swim_keyring_init(struct swim_keyring *kr);

/* Wipes every key from memory and empties kr. */
void swim_keyring_clear(struct swim_keyring *kr);

/*
 * Installs a key for decryption. The first key added to an empty ring
 * becomes the primary (as memberlist's AddKey). Adding a key that is
 * already installed changes nothing. Returns 0, -EINVAL (len not 16, 24 or
 * 32) or -ENOSPC (SWIM_KEYRING_MAX keys installed).
 */
int swim_keyring_add(struct swim_keyring *kr, const uint8_t *key, size_t len);

/*
 * Makes key the primary (the one that encrypts), installing it first if
 * needed; the previous primary stays installed for decryption. Returns 0,
 * -EINVAL or -ENOSPC as swim_keyring_add().
 */
int swim_keyring_use(struct swim_keyring *kr, const uint8_t *key, size_t len);

/*
 * Uninstalls a key and wipes it. Returns 0, -EBUSY (it is the primary:
 * make another key primary first, as memberlist refuses too) or -ENOENT
 * (not installed).
 */
int swim_keyring_remove(struct swim_keyring *kr, const uint8_t *key, size_t len);

/*
 * Decodes a key in serf's format (`serf keygen`: standard base64 with
 * padding, 32 bytes; 16 and 24 are accepted as serf does). Surrounding
 * whitespace is ignored. Returns the key's length, or -EINVAL with a
 * message naming the problem in err (when err_cap > 0).
 */
int swim_key_from_base64(const char *b64, uint8_t key[SWIM_KEY_MAX], char *err, size_t err_cap);

/*
 * swim_key_from_base64() then swim_keyring_add(). Returns 0 or -EINVAL /
 * -ENOSPC, with a message in err.
 */
int swim_keyring_add_base64(struct swim_keyring *kr, const char *b64, char *err, size_t err_cap);

/*
 * Encrypts in[0..len) with the primary key into out: 01 | random nonce |
 * ciphertext | tag, authenticating aad[0..aad_len) too (UDP: none; TCP:
 * the 5-byte `0a` + length header). in may be out + SWIM_ENCRYPT_HEADER
 * (encryption in place) but must not overlap out otherwise. Returns the
 * length (len + SWIM_ENCRYPT_OVERHEAD), -ENOKEY (empty ring), -ENOSPC,
 * -EMSGSIZE or -EIO (libcrypto failed, including no randomness).
 */
int swim_encrypt(const struct swim_keyring *kr, uint8_t *out, size_t cap, const uint8_t *in,
                 size_t len, const uint8_t *aad, size_t aad_len);

/*
 * Decrypts a vsn 0 or vsn 1 blob with each key in turn until one
 * authenticates it; strips vsn 0's padding. out must not overlap in and
 * needs len - SWIM_ENCRYPT_OVERHEAD bytes. Returns the plaintext length,
 * -EBADMSG (no key fits, too short, unknown version, bad padding), -ENOKEY
 * (empty ring), -ENOSPC or -EIO.
 */
int swim_decrypt(const struct swim_keyring *kr, uint8_t *out, size_t cap, const uint8_t *in,
                 size_t len, const uint8_t *aad, size_t aad_len);

#endif
