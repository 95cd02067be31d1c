// The error table: names and messages come from one list and stay stable.
#include <gtest/gtest.h>

#include <set>
#include <string>

extern "C" {
#include "tickless/tickless.h"
}

TEST(Errors, CodesAreStable)
{
    // Codes are ABI: they must never be renumbered.
    EXPECT_EQ(TICKLESS_ERR_INVALID, -1);
    EXPECT_EQ(TICKLESS_ERR_TIMEOUT, -2);
    EXPECT_EQ(TICKLESS_ERR_CLOSED, -3);
    EXPECT_EQ(TICKLESS_ERR_EOF, -4);
    EXPECT_EQ(TICKLESS_ERR_PEER, -5);
    EXPECT_EQ(TICKLESS_ERR_SSL, -6);
    EXPECT_EQ(TICKLESS_ERR_SYS, -7);
    EXPECT_EQ(TICKLESS_ERR_NOMEM, -8);
    EXPECT_EQ(TICKLESS_ERR_UNSUPPORTED, -9);
    EXPECT_EQ(TICKLESS_ERR_BUSY, -10);
}

TEST(Errors, NamesAndMessagesAreDistinct)
{
    std::set<std::string> names, messages;

    for (int e = TICKLESS_ERR_MIN_; e < 0; e++) {
        names.insert(tickless_err_name(e));
        messages.insert(tickless_strerror(e));
    }
    EXPECT_EQ(names.size(), size_t(-TICKLESS_ERR_MIN_));
    EXPECT_EQ(messages.size(), size_t(-TICKLESS_ERR_MIN_));
    EXPECT_EQ(names.count("TICKLESS_ERR_UNKNOWN"), 0u);
}

TEST(Errors, VersionMatchesHeader)
{
    EXPECT_EQ(tickless_version(), unsigned(TICKLESS_VERSION_NUMBER));
}
