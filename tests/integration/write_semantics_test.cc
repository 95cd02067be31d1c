// What a write promises (the header's "Writes" section): each call's bytes
// reach the peer contiguous and exactly as credited in *nwritten, whoever
// else writes at the same time, and a write that timed out leaves nothing
// that a later write could send in its own name. And a connection serves
// a reader and a writer at once, whichever blocks first. Failures 3, 4
// and 5 of the interleaving review, over TLS against a peer that records
// every byte and drains only when told.
#include "harness.h"
#include "tls_peer.h"

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// Writer |w|'s stream: byte |pos| is byte pos % 8 of the 64-bit word
// (w + 1) << 48 | pos / 8, so any 8 aligned bytes say whose they are and
// where they belong.
uint64_t Word(unsigned w, uint64_t index)
{
    return (uint64_t)(w + 1) << 48 | index;
}

std::vector<uint8_t> Stream(unsigned w, uint64_t pos, size_t len)
{
    std::vector<uint8_t> out(len);
    for (size_t i = 0; i < len; i++) {
        uint64_t p = pos + i, word = Word(w, p / 8);
        out[i] = (uint8_t)(word >> (8 * (p % 8)));
    }
    return out;
}

// A read of up to 16 bytes on a thread of its own, which may block; rc
// and reply are its outcome once the thread is joined.
struct ReadOnAThread {
    ReadOnAThread(tickless_conn *c, int timeout_ms)
        : thread([this, c, timeout_ms] {
              char buf[16];
              size_t n = 0;
              rc = tickless_conn_read(c, buf, sizeof(buf), &n, timeout_ms);
              reply.assign(buf, n);
          })
    {
    }
    std::atomic<int> rc{1};
    std::string reply;
    std::thread thread; // last: starts once the fields above exist
};

// A write of |len| bytes of writer 0's stream on a thread of its own, which
// may block; rc and written are its outcome once the thread is joined.
struct WriteOnAThread {
    WriteOnAThread(tickless_conn *c, size_t len, int timeout_ms)
        : thread([this, c, len, timeout_ms] {
              std::vector<uint8_t> data = Stream(0, 0, len);
              size_t n = 0;
              rc = tickless_conn_write(c, data.data(), len, &n, timeout_ms);
              written = n;
          })
    {
    }
    std::atomic<int> rc{1};
    std::atomic<size_t> written{0};
    std::thread thread; // last: starts once the fields above exist
};

class WriteSemantics : public testing::TestWithParam<Mode> {
protected:
    // A TLS client of |peer_| on the mode's assist, with a small send
    // buffer so that writes block; handshaken, and with everything the
    // peer sent after its handshake (TLS 1.3 session tickets) read, so
    // that nothing unread on the socket wakes a blocked reader by chance.
    // Closed by Finish(), or at the end of a test that failed first.
    tickless_conn *Connect()
    {
        char hi[2];
        size_t n = 0;

        c_ = NewClient(GetParam(), TS_TLS, peer_.port(), SmallSendBuffer);
        if (c_ == nullptr)
            return nullptr;
        peer_.Send("hi");
        if (tickless_conn_handshake(c_, 10000) != 0
            || tickless_conn_read(c_, hi, sizeof(hi), &n, 10000) != 0
            || n != sizeof(hi)) {
            ADD_FAILURE() << "handshake or first read from the peer failed";
            tickless_conn_close(c_);
            c_ = nullptr;
        }
        return c_;
    }

    // Connects (c_), then writes the first |len| bytes of writer 0's
    // stream while the peer does not read yet: the write times out, having
    // been credited with *n0 of them. A test failure (fatal) if either
    // part goes otherwise.
    void WriteUntilTimeout(size_t len, size_t *n0)
    {
        ASSERT_NE(Connect(), nullptr);
        std::vector<uint8_t> data = Stream(0, 0, len);
        ASSERT_EQ(tickless_conn_write(c_, data.data(), len, n0, 300),
                  TICKLESS_ERR_TIMEOUT); // the peer does not read yet
    }

    // Ends the connection cleanly and returns what the peer received.
    std::vector<uint8_t> Finish(tickless_conn *c)
    {
        peer_.Drain(true);
        EXPECT_EQ(tickless_conn_shutdown(c, 10000), 0);
        EXPECT_TRUE(peer_.WaitEof(10000 * TimeScale()))
            << "the peer never saw the close_notify";
        tickless_conn_close(c);
        c_ = nullptr;
        EXPECT_FALSE(peer_.failed());
        return peer_.Received();
    }

    void TearDown() override
    {
        if (c_ != nullptr)
            tickless_conn_close(c_); // a test that stopped half-way
    }

    TlsPeer peer_;
    tickless_conn *c_ = nullptr;
};

} // namespace

// Failure 3: two writers, 1 MiB each in 16 KiB calls. Every call's 16 KiB
// must arrive as one piece, each writer's pieces in order, nothing lost or
// doubled.
TEST_P(WriteSemantics, ConcurrentWritersEachGetTheirOwnBytes)
{
    constexpr size_t kCall = 16384, kCalls = 64;
    tickless_conn *c = Connect();
    ASSERT_NE(c, nullptr);
    peer_.Drain(true);

    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (unsigned w = 0; w < 2; w++) {
        writers.emplace_back([&, w] {
            for (size_t k = 0; k < kCalls; k++) {
                std::vector<uint8_t> piece = Stream(w, k * kCall, kCall);
                size_t n = 0;
                int rc = tickless_conn_write(c, piece.data(), kCall, &n,
                                             30000);
                if (rc != 0 || n != kCall) {
                    failures++;
                    return;
                }
            }
        });
    }
    for (auto &t : writers)
        t.join();
    ASSERT_EQ(failures.load(), 0);
    std::vector<uint8_t> got = Finish(c);

    ASSERT_EQ(got.size(), 2 * kCalls * kCall);
    size_t next[2] = { 0, 0 }; // each writer's next expected call
    for (size_t at = 0; at < got.size(); at += kCall) {
        uint64_t first;
        memcpy(&first, &got[at], sizeof(first));
        unsigned w = (unsigned)(first >> 48) - 1;
        ASSERT_LT(w, 2u) << "bytes at " << at << " belong to no writer";
        std::vector<uint8_t> want = Stream(w, next[w] * kCall, kCall);
        ASSERT_EQ(memcmp(&got[at], want.data(), kCall), 0)
            << "the piece at " << at << " is not writer " << w << "'s call "
            << next[w] << " whole";
        next[w]++;
    }
}

// Failure 4: a write that timed out with *nwritten == n0, then a
// different message. The peer must receive exactly the first n0 bytes of
// the first, then the whole second, whatever OpenSSL held back.
TEST_P(WriteSemantics, TimedOutWriteLeavesNothingForTheNext)
{
    constexpr size_t kFirst = 1 << 20;
    size_t n0 = 0;
    ASSERT_NO_FATAL_FAILURE(WriteUntilTimeout(kFirst, &n0));
    ASSERT_LT(n0, kFirst);
    tickless_conn *c = c_;
    std::vector<uint8_t> first = Stream(0, 0, kFirst); // what it wrote

    // A short message (shorter than a record OpenSSL may hold back), then
    // a long one, both complete once the peer reads.
    peer_.Drain(true);
    std::vector<uint8_t> second = Stream(1, 0, 100);
    std::vector<uint8_t> third = Stream(2, 0, 16384);
    size_t n = 0;
    ASSERT_EQ(tickless_conn_write(c, second.data(), second.size(), &n, 30000),
              0);
    EXPECT_EQ(n, second.size());
    ASSERT_EQ(tickless_conn_write(c, third.data(), third.size(), &n, 30000),
              0);
    EXPECT_EQ(n, third.size());
    std::vector<uint8_t> got = Finish(c);

    std::vector<uint8_t> want(first.begin(), first.begin() + n0);
    want.insert(want.end(), second.begin(), second.end());
    want.insert(want.end(), third.begin(), third.end());
    ASSERT_EQ(got.size(), want.size()) << "n0 = " << n0;
    EXPECT_TRUE(got == want) << "the peer got other bytes than credited";
}

// The bytes a timed-out write was credited with reach the peer even if
// the application never writes again: the assist hands them over once the
// socket has room.
TEST_P(WriteSemantics, CreditedBytesArriveWithoutAnotherCall)
{
    constexpr size_t kLen = 1 << 20;
    size_t n0 = 0;
    ASSERT_NO_FATAL_FAILURE(WriteUntilTimeout(kLen, &n0));
    ASSERT_GT(n0, 0u);
    peer_.Drain(true);
    for (int i = 0; i < 10000 * TimeScale(); i++) {
        if (peer_.Received().size() >= n0)
            break;
        ts_sleep_ms(1);
    }
    std::vector<uint8_t> got = peer_.Received();
    ASSERT_EQ(got.size(), n0) << "credited bytes never arrived, or more did";
    EXPECT_EQ(memcmp(got.data(), Stream(0, 0, kLen).data(), n0), 0);
    EXPECT_EQ(Finish(c_).size(), n0);
}

// Failure 5, one way: a reader blocks first, then a writer fills the
// socket and blocks. When the peer drains, the writer must finish; it may
// not wait out its timeout because only the reader's interest is watched.
TEST_P(WriteSemantics, WriterBehindABlockedReaderFinishes)
{
    constexpr size_t kLen = 4 << 20;
    tickless_conn *c = Connect();
    ASSERT_NE(c, nullptr);

    ReadOnAThread reader(c, 60000);
    ASSERT_EQ(WaitForWaiters(c, 1), 1u) << "the reader never blocked";
    WriteOnAThread writer(c, kLen, 20000);
    ASSERT_EQ(WaitForWaiters(c, 2), 2u) << "the writer never blocked";

    peer_.Drain(true);
    writer.thread.join();
    EXPECT_EQ(writer.rc.load(), 0) << writer.written.load() << " of " << kLen
                                   << " bytes written";
    peer_.Send("done");
    reader.thread.join();
    EXPECT_EQ(reader.rc.load(), 0);
    EXPECT_EQ(reader.reply, "done");
    std::vector<uint8_t> got = Finish(c);
    EXPECT_EQ(got.size(), kLen);
}

// Failure 5, the other way: a writer blocks first on a full socket, then
// a reader. Data from the peer must reach the reader while the writer is
// still blocked.
TEST_P(WriteSemantics, ReaderBehindABlockedWriterGetsData)
{
    constexpr size_t kLen = 4 << 20;
    tickless_conn *c = Connect();
    ASSERT_NE(c, nullptr);

    WriteOnAThread writer(c, kLen, 60000);
    ASSERT_EQ(WaitForWaiters(c, 1), 1u) << "the writer never blocked";
    ReadOnAThread reader(c, 20000);
    ASSERT_EQ(WaitForWaiters(c, 2), 2u) << "the reader never blocked";

    peer_.Send("data");
    reader.thread.join();
    EXPECT_EQ(reader.rc.load(), 0);
    EXPECT_EQ(reader.reply, "data");
    peer_.Drain(true);
    writer.thread.join();
    EXPECT_EQ(writer.rc.load(), 0);
    std::vector<uint8_t> got = Finish(c);
    EXPECT_EQ(got.size(), kLen);
}

INSTANTIATE_TEST_SUITE_P(All, WriteSemantics, EveryMode(), ModeParamName);
