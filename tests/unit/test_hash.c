/* Unit tests for src/core/hash.c: SipHash-2-4 against the reference
 * vectors (key 00..0f, message 00..n-1, from the specification's
 * appendix and the reference implementation's vectors.h), and the
 * process key: hashes differ from a fixed-key hash. */
#include "switchboard/hash.h"
#include "test_helpers.h"

Test(hash, siphash_reference_vectors)
{
    static const uint64_t want[] = {
        0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
        0x85676696d7fb7e2dull, 0xcf2794e0277187b7ull, 0x18765564cd99a68dull,
        0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull, 0x93f5f5799a932462ull,
        0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
        0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull,
        0xa129ca6149be45e5ull,
    };
    unsigned char key[16], msg[16];
    for (int i = 0; i < 16; i++)
        key[i] = msg[i] = (unsigned char)i;
    for (size_t n = 0; n < sizeof(want) / sizeof(want[0]); n++)
        cr_assert_eq(sb_siphash(key, msg, n), want[n], "length %zu: %016llx", n,
                     (unsigned long long)sb_siphash(key, msg, n));
}

Test(hash, the_process_key_is_not_a_fixed_one)
{
    static const unsigned char zero[16];
    const char *s = "call-id@host";
    cr_assert_neq(sb_hash(s, strlen(s)), sb_siphash(zero, s, strlen(s)));
    cr_assert_eq(sb_hash(s, strlen(s)), sb_hash(s, strlen(s)), "stable within the process");
}
