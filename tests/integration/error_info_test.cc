// tickless_conn_error(): the details of a failure, for callers whose
// tickless_error_info is the full struct or an older, shorter one.
#include "harness.h"

#include <cstddef>
#include <cstring>
#include <sys/socket.h>

extern "C" {
#include "ts_net.h"
}

// A DTLS handshake towards a UDP port nobody listens on fails at once with
// "connection refused": a real failure with a message to read.
static tickless_conn *FailedConnection()
{
    uint16_t port = 0;
    int fd = ts_net_bind(SOCK_DGRAM, 0, 0, &port);
    if (fd < 0)
        return nullptr;
    close(fd); // the port is now closed: the kernel answers ICMP unreachable
    tickless_conn *c = NewClient(Mode::Dedicated, TS_DTLS, port);
    if (c == nullptr)
        return nullptr;
    int rc = tickless_conn_handshake(c, 10000);
    EXPECT_NE(rc, 0);
    return c;
}

TEST(ErrorInfo, FullStructHasCodeAndMessage)
{
    tickless_conn *c = FailedConnection();
    ASSERT_NE(c, nullptr);
    tickless_error_info info = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &info), 0);
    EXPECT_NE(info.code, 0);
    EXPECT_GT(std::strlen(info.message), 5u) << info.message;
    EXPECT_LT(std::strlen(info.message), sizeof(info.message));
    tickless_conn_close(c);
}

// An older caller whose struct ends six bytes into |message| gets the first
// five characters and a terminating NUL, and nothing past its struct.
TEST(ErrorInfo, ShortStructGetsATerminatedPrefix)
{
    tickless_conn *c = FailedConnection();
    ASSERT_NE(c, nullptr);
    tickless_error_info full = TICKLESS_ERROR_INFO_INIT;
    ASSERT_EQ(tickless_conn_error(c, &full), 0);
    ASSERT_GT(std::strlen(full.message), 5u);

    tickless_error_info cut;
    std::memset(&cut, 'x', sizeof(cut));
    cut.size = offsetof(tickless_error_info, message) + 6;
    ASSERT_EQ(tickless_conn_error(c, &cut), 0);
    EXPECT_EQ(cut.code, full.code);
    EXPECT_EQ(std::string(cut.message), std::string(full.message, 5));
    EXPECT_EQ(cut.message[6], 'x') << "wrote past the caller's struct";
    tickless_conn_close(c);
}
