// A lone caller's ppoll() fails (ENOMEM) and it goes to sleep on its
// condition variable instead. A wake-up that came while it was polling,
// with the mutex released, must not be lost in the switch: here another
// thread, inside that window, gets the echo the caller waits for into
// OpenSSL's buffers (the socket is then empty, and DTLS and TLS have no
// timer left to tick) and wakes the caller's queue. Before, the sleep
// started afresh from the queue's new generation and the caller slept
// until its timeout with the data there to read (its last attempt then
// found it: the call succeeds, only its timeout late).
#include "harness.h"

extern "C" {
#include "base/sysfail.h"
}

#include <cerrno>
#include <string>
#include <thread>

namespace {

const int kTimeoutMs = 10000;

struct WindowWork {
    tickless_conn *c;
    bool done = false;
    std::string what; // the first thing that went wrong, if any
};

void GetEchoIntoOpenSslInTheWindow(void *arg)
{
    WindowWork *w = static_cast<WindowWork *>(arg);
    // Another thread, as in real life: this one is inside a call.
    std::thread t([w] {
        size_t n = 0;
        if (tickless_conn_write(w->c, "x", 1, &n, kTimeoutMs) != 0) {
            w->what = "write failed";
            return;
        }
        SSL *ssl = tickless_conn_lock(w->c);
        if (ssl == nullptr) {
            w->what = "lock failed";
            return;
        }
        // SSL_peek() reads the socket into OpenSSL's buffers and leaves
        // the byte there for the caller.
        char b;
        uint64_t give_up = ts_now_ns() + (uint64_t)(kTimeoutMs * 1e6);
        int r;
        while ((r = SSL_peek(ssl, &b, 1)) <= 0 && ts_now_ns() < give_up
               && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
            ts_sleep_ms(1);
        if (r <= 0)
            w->what = "the echo never came: SSL_peek " + std::to_string(r)
                      + ", SSL_get_error "
                      + std::to_string(SSL_get_error(ssl, r));
        // Unlocking wakes the caller's queue: data may be there now.
        tickless_conn_unlock(w->c);
        w->done = r > 0;
    });
    t.join();
}

class SelfPollFailure : public testing::TestWithParam<ts_proto> {};

TEST_P(SelfPollFailure, WakeUpDuringTheFailedPollIsNotLost)
{
    const ts_proto proto = GetParam();
    SKIP_UNLESS_AVAILABLE(proto);
    ts_server *srv = nullptr;
    tickless_conn *c = StartServerAndConnect(Mode::Dedicated, proto, &srv);
    ASSERT_NE(c, nullptr);
    WindowWork work;
    work.c = c;
    unsigned before = tl_sysfail_failures(SYSFAIL_PPOLL);
    tl_sysfail_on_failure(SYSFAIL_PPOLL, GetEchoIntoOpenSslInTheWindow, &work);
    tl_sysfail_inject(SYSFAIL_PPOLL, ENOMEM, 0, 1);

    char b = 0;
    size_t n = 0;
    uint64_t t0 = ts_now_ns();
    int rc = tickless_conn_read(c, &b, 1, &n, kTimeoutMs);
    double seconds = (ts_now_ns() - t0) / 1e9;
    tl_sysfail_inject(SYSFAIL_PPOLL, 0, 0, 0);
    tl_sysfail_on_failure(SYSFAIL_PPOLL, nullptr, nullptr);

    ASSERT_EQ(tl_sysfail_failures(SYSFAIL_PPOLL) - before, 1u)
        << "the read never polled";
    EXPECT_TRUE(work.done) << work.what;
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    // Milliseconds; a lost wake-up waits for the 10 s timeout.
    EXPECT_LT(seconds, 5.0 * TimeScale())
        << "the wake-up in the window was lost: the read slept until its "
           "timeout";
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(b, 'x');
    tickless_conn_close(c);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(Protos, SelfPollFailure, EveryProto(),
                         ProtoParamName);

} // namespace
