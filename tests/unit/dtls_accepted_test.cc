// Accepted DTLS clients (src/core/dtls_accepted.c): a hello that arrived
// before its client's own socket was connected is a copy; one that
// arrived after is the client starting again.
#include <gtest/gtest.h>

extern "C" {
#include "core/dtls_accepted.h"
}

namespace {

const unsigned char kA[] = { 2, 0, 127, 0, 0, 1, 0x30, 0x39 };
const unsigned char kB[] = { 2, 0, 127, 0, 0, 1, 0x30, 0x3a };

TEST(DtlsAccepted, CopiesAreTheHellosBeforeTheSocket)
{
    static accepted_set s; // zeroed: every slot unused
    EXPECT_FALSE(tl_accepted_is_copy(&s, kA, sizeof(kA), 100));
    tl_accepted_add(&s, kA, sizeof(kA));
    // While its socket is being made, anything from it is a copy.
    EXPECT_TRUE(tl_accepted_is_copy(&s, kA, sizeof(kA), 999999));
    EXPECT_FALSE(tl_accepted_is_copy(&s, kB, sizeof(kB), 100));
    tl_accepted_connected(&s, kA, sizeof(kA), 5000);
    EXPECT_TRUE(tl_accepted_is_copy(&s, kA, sizeof(kA), 4999));
    EXPECT_FALSE(tl_accepted_is_copy(&s, kA, sizeof(kA), 5001));
    // Accepted again later: the new socket's time counts.
    tl_accepted_add(&s, kA, sizeof(kA));
    tl_accepted_connected(&s, kA, sizeof(kA), 9000);
    EXPECT_TRUE(tl_accepted_is_copy(&s, kA, sizeof(kA), 6000));
}

TEST(DtlsAccepted, AFailedSocketForgetsTheClient)
{
    static accepted_set s;
    tl_accepted_add(&s, kA, sizeof(kA));
    tl_accepted_connected(&s, kA, sizeof(kA), 0);
    EXPECT_FALSE(tl_accepted_is_copy(&s, kA, sizeof(kA), 1));
}

TEST(DtlsAccepted, TheOldestIsForgottenFirst)
{
    static accepted_set s;
    unsigned char key[8] = { 2, 0, 10, 0, 0, 0, 0, 0 };
    for (int i = 0; i <= ACCEPTED_MAX; i++) {
        key[4] = (unsigned char)(i >> 8);
        key[5] = (unsigned char)i;
        tl_accepted_add(&s, key, sizeof(key));
        tl_accepted_connected(&s, key, sizeof(key), 1000);
    }
    key[4] = key[5] = 0; // the first, overwritten by the last
    EXPECT_FALSE(tl_accepted_is_copy(&s, key, sizeof(key), 10));
    key[5] = 1; // the second is still known
    EXPECT_TRUE(tl_accepted_is_copy(&s, key, sizeof(key), 10));
}

} // namespace
