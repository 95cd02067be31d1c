// DTLS cookies (src/core/dtls_cookie.c): a cookie is the client's address
// under the listener's secret, honoured under the current secret or the
// one before, never after two rotations, never for another address.
#include <gtest/gtest.h>

#include <cstring>

extern "C" {
#include "core/dtls_cookie.h"
}

namespace {

const unsigned char kAlice[] = { 2, 0, 127, 0, 0, 1, 0x30, 0x39 };
const unsigned char kBob[] = { 2, 0, 127, 0, 0, 1, 0x30, 0x3a }; // port + 1
const uint64_t kT0 = 1000000000000ull;

class CookieJar : public testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(tl_cookie_jar_init(&jar_, kT0), 0); }
    bool Check(uint64_t now, const unsigned char *addr,
               const unsigned char *cookie, size_t len = COOKIE_LEN)
    {
        return tl_cookie_check(&jar_, now, addr, sizeof(kAlice), cookie,
                               len)
               == 1;
    }
    cookie_jar jar_;
};

TEST_F(CookieJar, HonoursItsOwnCookieForThatAddressOnly)
{
    unsigned char c[COOKIE_LEN];
    ASSERT_EQ(tl_cookie_make(&jar_, kT0, kAlice, sizeof(kAlice), c), 0);
    EXPECT_TRUE(Check(kT0 + 1, kAlice, c));
    EXPECT_FALSE(Check(kT0 + 1, kBob, c));
    EXPECT_FALSE(Check(kT0 + 1, kAlice, c, COOKIE_LEN - 1));
    c[5] ^= 1;
    EXPECT_FALSE(Check(kT0 + 1, kAlice, c));
}

TEST_F(CookieJar, SurvivesOneRotationNotTwo)
{
    unsigned char c[COOKIE_LEN], later[COOKIE_LEN];
    ASSERT_EQ(tl_cookie_make(&jar_, kT0, kAlice, sizeof(kAlice), c), 0);
    // One period on: a new secret, and the old one still honoured.
    uint64_t t1 = kT0 + COOKIE_ROTATE_NS;
    ASSERT_EQ(tl_cookie_make(&jar_, t1, kAlice, sizeof(kAlice), later), 0);
    EXPECT_NE(std::memcmp(c, later, COOKIE_LEN), 0) << "the secret changed";
    EXPECT_TRUE(Check(t1 + 1, kAlice, c));
    EXPECT_TRUE(Check(t1 + 1, kAlice, later));
    // Another period: the first cookie is gone, the second still good.
    uint64_t t2 = t1 + COOKIE_ROTATE_NS;
    EXPECT_FALSE(Check(t2, kAlice, c));
    EXPECT_TRUE(Check(t2 + 1, kAlice, later));
}

TEST_F(CookieJar, ALongSilenceForgetsEveryCookie)
{
    unsigned char c[COOKIE_LEN];
    ASSERT_EQ(tl_cookie_make(&jar_, kT0, kAlice, sizeof(kAlice), c), 0);
    // No cookie made for two periods: both secrets are replaced at once,
    // so the old cookie is not honoured as "the previous secret's".
    EXPECT_FALSE(Check(kT0 + 2 * COOKIE_ROTATE_NS, kAlice, c));
}

TEST_F(CookieJar, TwoJarsDisagree)
{
    cookie_jar other;
    unsigned char c[COOKIE_LEN];
    ASSERT_EQ(tl_cookie_jar_init(&other, kT0), 0);
    ASSERT_EQ(tl_cookie_make(&other, kT0, kAlice, sizeof(kAlice), c), 0);
    EXPECT_FALSE(Check(kT0, kAlice, c));
}

} // namespace
