// The calls that watch sockets failing, through the injection hook of
// src/base/sysfail.h: a shard's epoll_ctl(), a lone caller's ppoll(), and
// the eventfd that caller's thread would be woken through. None of them
// may cost a connection: tickless falls back (the shard ticks the
// connection every few milliseconds until epoll takes it; the caller
// sleeps on its condition variable and the assist wakes it) and every
// echo still comes back, intact and in reasonable time.
#include "harness.h"

extern "C" {
#include "core/self_poll.h"
#include "base/sysfail.h"
}

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

namespace {

const int kTimeoutMs = 10000;

struct WatchFailure {
    sysfail_call call;
    const char *name;
    int err;
    bool self_poll; // off: the assist's own readiness path is the one used
};

const WatchFailure kWatchFailures[] = {
    { SYSFAIL_EPOLL_CTL, "epoll_ctl", ENOMEM, false },
    { SYSFAIL_EPOLL_CTL, "epoll_ctl", ENOSPC, false },
    { SYSFAIL_PPOLL, "ppoll", ENOMEM, true },
    { SYSFAIL_THREAD_EVENTFD, "eventfd", EMFILE, true },
};

class SocketWatch : public testing::TestWithParam<ts_proto> {};

TEST_P(SocketWatch, FailuresFallBackAndNothingStalls)
{
    const ts_proto proto = GetParam();
    SKIP_UNLESS_AVAILABLE(proto);
    ts_server *srv = StartServer(proto);
    ASSERT_NE(srv, nullptr);
    for (const WatchFailure &f : kWatchFailures) {
        SCOPED_TRACE(std::string(f.name) + " failing with " + strerror(f.err));
        tickless_pool *pool = nullptr;
        ASSERT_EQ(tickless_pool_new(nullptr, &pool), 0);
        tl_self_poll_set_enabled(f.self_poll);
        unsigned before = tl_sysfail_failures(f.call);

        // Failing from the start: the connection's first registration too.
        tl_sysfail_inject(f.call, f.err, 0, UINT_MAX);
        int rc = -100;
        double seconds = 0;
        // A thread of its own, which has never made its wake-up eventfd.
        std::thread app([&] {
            tickless_conn *c = NewClientOn(pool, proto, ts_server_port(srv));
            if (c == nullptr)
                return;
            uint64_t t0 = ts_now_ns();
            rc = tickless_conn_handshake(c, kTimeoutMs);
            // Nothing is coming: this read surely blocks, so the waiting
            // path (and its failing call) is reached, however fast the
            // echoes below find their data.
            char byte;
            size_t n = 0;
            if (rc == 0) {
                int idle = tickless_conn_read(c, &byte, 1, &n, 50);
                rc = idle == TICKLESS_ERR_TIMEOUT ? 0 : -200 + idle;
            }
            for (uint64_t off = 0; rc == 0 && off < 20 * 1000; off += 1000) {
                rc = WritePattern(c, off, 1000, kTimeoutMs);
                if (rc == 0)
                    rc = ReadPattern(c, off, 1000, kTimeoutMs);
            }
            seconds = (ts_now_ns() - t0) / 1e9;
            tickless_conn_close(c);
        });
        app.join();
        tl_sysfail_inject(f.call, 0, 0, 0);
        tl_self_poll_set_enabled(1);
        unsigned injected = tl_sysfail_failures(f.call) - before;

        EXPECT_EQ(rc, 0) << tickless_err_name(rc);
        EXPECT_GT(injected, 0u) << "the failure was never reached";
        // 20 round trips: milliseconds normally, a few 5 ms retry periods
        // each at worst; a stall would wait for a timeout of seconds.
        EXPECT_LT(seconds, 8.0 * TimeScale()) << "a fallback was slow";
        std::cout << "[ sysfail  ] " << f.name << " (" << strerror(f.err)
                  << ") failed " << injected << " times; handshake and 20 "
                  << "echoes took " << seconds * 1000 << " ms\n";
        EXPECT_EQ(tickless_pool_free(pool), 0);
    }
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(Protos, SocketWatch, EveryProto(), ProtoParamName);

} // namespace
