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
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(v.mode, v.proto, &srv);
    ASSERT_NE(c, nullptr);
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

// A reader and a writer start together on a fresh connection, so both
// calls begin with the handshake. Whichever call finishes it must wake the
// other, which may be asleep waiting for the very input that call consumed:
// the write goes out and the echo comes back within milliseconds, not when
// some timeout ends the other caller's sleep. Repeated, as it is a race.
TEST_P(Echo, ReaderAndWriterRaceThroughTheHandshake)
{
    const Variant v = GetParam();
    const int kRounds = 50;
    const size_t len = 600;
    const int timeout_ms = 5000; // a round takes milliseconds

    SKIP_UNLESS_AVAILABLE(v.proto);
    ts_server *srv = StartServer(v.proto);
    ASSERT_NE(srv, nullptr);
    int stalled = 0;
    for (int i = 0; i < kRounds; i++) {
        tickless_conn *c = NewClient(v.mode, v.proto, ts_server_port(srv));
        ASSERT_NE(c, nullptr);
        int read_rc = -100;
        std::thread reader([&] { read_rc = ReadPattern(c, 0, len, timeout_ms); });
        uint64_t t0 = ts_now_ns();
        int write_rc = WritePattern(c, 0, len, timeout_ms);
        double write_ms = (ts_now_ns() - t0) / 1e6;
        reader.join();
        if (write_rc != 0 || read_rc != 0) {
            if (stalled++ < 5)
                ADD_FAILURE() << "round " << i << ": write "
                              << tickless_err_name(write_rc) << " after "
                              << write_ms << " ms, read "
                              << tickless_err_name(read_rc);
        }
        tickless_conn_close(c);
    }
    EXPECT_EQ(stalled, 0) << "of " << kRounds << " rounds";
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, Echo, AllVariants(), VariantName);
