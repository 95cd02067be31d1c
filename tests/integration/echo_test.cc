// 1 MiB through the in-process echo server and back, content checked, in
// every mode and protocol.
#include "harness.h"

#include <thread>

class Echo : public testing::TestWithParam<Variant> {};

TEST_P(Echo, OneMebibyteRoundTrip)
{
    const Variant v = GetParam();
    const size_t total = 1 << 20;
    const size_t chunk = 16 << 10;

    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(v.mode, v.proto, ts_server_port(srv));
    ASSERT_NE(c, nullptr);

    ASSERT_EQ(tickless_conn_handshake(c, 10000), 0);
    // Ping-pong in 16 KiB chunks: DTLS has no flow control, and a chunk at
    // a time keeps every datagram within the socket buffers.
    for (size_t off = 0; off < total; off += chunk) {
        ASSERT_EQ(WritePattern(c, off, chunk), 0) << "at " << off;
        ASSERT_EQ(ReadPattern(c, off, chunk), 0) << "at " << off;
    }
    EXPECT_EQ(ts_server_bytes_received(srv), total);
    EXPECT_EQ(tickless_conn_shutdown(c, 10000), 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

// The same bytes, but written by one thread while another reads: the two
// directions of one connection in flight at once.
TEST_P(Echo, ConcurrentReaderAndWriter)
{
    const Variant v = GetParam();
    const size_t total = 1 << 20;
    const size_t chunk = 8 << 10;

    SKIP_UNLESS_AVAILABLE(v.proto);
    if (v.proto == TS_DTLS)
        GTEST_SKIP() << "DTLS has no flow control: an unpaced writer may "
                        "overrun the socket buffers and lose datagrams, as "
                        "DTLS allows (covered by the ping-pong test)";
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    tickless_conn *c = NewClient(v.mode, v.proto, ts_server_port(srv));
    ASSERT_NE(c, nullptr);

    int read_rc = -100;
    std::thread reader([&] { read_rc = ReadPattern(c, 0, total); });
    for (size_t off = 0; off < total; off += chunk)
        ASSERT_EQ(WritePattern(c, off, chunk), 0);
    reader.join();
    EXPECT_EQ(read_rc, 0);
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, Echo, AllVariants(), VariantName);
