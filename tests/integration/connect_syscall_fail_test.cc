// Every system call that tickless_connect() makes through the failure hook
// (src/base/sysfail.h) fails in turn, the 1st call, then the 2nd, and so
// on until a connect no longer reaches the Nth: during a two-address race
// in which both attempts get as far as a connection (::1 takes everything
// and answers nothing; 127.0.0.1 is live and wins after the attempt
// delay), in dedicated mode and on a pool. Each connect either succeeds
// (the failure was recovered from, or hit the loser) or returns a clear
// error (the verdict first in the details, then what each address did),
// and leaves no descriptor and no thread behind. Each runs on a thread of
// its own, so that the caller's own wake-up descriptor is made (and can
// fail) every time.
#include "connect_fixture.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "base/sysfail.h"
}

namespace {

struct Call {
    sysfail_call call;
    const char *name;
    int err; // the errno it fails with, as the kernel would
};

// Where they are made: the lookup's helper thread and a dedicated
// assist's thread and descriptors; each attempt's socket and connect();
// a pool's shard watching an attempt's socket; the caller polling a
// handshake itself, and its wake-up descriptor. (epoll_pwait2, an
// assist's sleep, is no step of a connect: sysfail_test.cc has it.)
const Call kCalls[] = {
    { SYSFAIL_PTHREAD_CREATE, "pthread_create", EAGAIN },
    { SYSFAIL_SOCKET, "socket", EMFILE },
    { SYSFAIL_CONNECT, "connect", EAGAIN },
    { SYSFAIL_EPOLL_CREATE, "epoll_create1", EMFILE },
    { SYSFAIL_EVENTFD, "eventfd", EMFILE },
    { SYSFAIL_TIMERFD_CREATE, "timerfd_create", ENOMEM },
    { SYSFAIL_EPOLL_CTL, "epoll_ctl", ENOMEM },
    { SYSFAIL_PPOLL, "ppoll", ENOMEM },
    { SYSFAIL_THREAD_EVENTFD, "the caller's eventfd", EMFILE },
};

// A connect that made more calls than this (the caller polls in 5 ms
// slices while attempts overlap) is not followed further: by then the
// race is decided.
const unsigned kMaxNth = 48;

class ConnectSysFail : public ConnectFixture {
protected:
    // tickless_connect() on a thread of its own.
    int ConnectOnNewThread(const std::string &port, tickless_conn **c,
                           int timeout_ms)
    {
        int rc = -1;
        std::thread t([&] { rc = ConnectTo("localhost", port, c, timeout_ms); });
        t.join();
        return rc;
    }
};

TEST_P(ConnectSysFail, EachCallFailingInTurnIsCleanAndLeavesNothing)
{
    WarmUp(Pool(), Proto());
    ts_server *srv = StartServer(Proto());
    ASSERT_NE(srv, nullptr);
    const uint16_t p = ts_server_port(srv);
    const std::string port = PortOf(srv);
    auto fds_now = [p] { return CountFdsExceptPort(p); };
    const int fds = fds_now(), threads = CountThreads();
    ResolveAs as("localhost", "::1,127.0.0.1");
    o_.attempt_delay_ms = 50;
    // A failure in the live attempt leaves the silent one to run out the
    // clock: kept short, but long enough for the live one's handshake.
    const int timeout = static_cast<int>(1000 * TimeScale());
    unsigned reached_any = 0;

    for (const Call &k : kCalls) {
        std::string outcomes; // per call failed: "0" or the error's name
        for (unsigned nth = 1; nth <= kMaxNth; nth++) {
            SCOPED_TRACE(std::string(k.name) + " failing on call "
                         + std::to_string(nth));
            // The hole afresh each time: a TCP one's accept queue fills.
            int hole = SilentV6(Proto() == TS_TLS ? SOCK_STREAM : SOCK_DGRAM,
                                p);
            ASSERT_GE(hole, 0) << "cannot bind [::1]:" << p;
            tickless_conn *c = nullptr;
            unsigned before = tl_sysfail_failures(k.call);
            tl_sysfail_inject(k.call, k.err, nth - 1, 1);
            int rc = ConnectOnNewThread(port, &c, timeout);
            tl_sysfail_inject(k.call, 0, 0, 0);
            bool reached = tl_sysfail_failures(k.call) != before;
            close(hole);
            if (rc == 0) {
                ASSERT_NE(c, nullptr);
                EXPECT_EQ(err_.code, 0);
                tickless_conn_close(c);
            } else {
                EXPECT_EQ(c, nullptr);
                EXPECT_TRUE(rc == TICKLESS_ERR_SYS || rc == TICKLESS_ERR_NOMEM)
                    << tickless_err_name(rc) << ": " << err_.message;
                EXPECT_EQ(err_.code, rc);
                std::string verdict = "localhost port " + port + ": "
                                      + tickless_strerror(rc);
                EXPECT_EQ(std::string(err_.message).rfind(verdict, 0), 0u)
                    << err_.message;
            }
            EXPECT_LE(SettlesAt(fds, fds_now), fds)
                << tickless_err_name(rc) << ": " << err_.message;
            EXPECT_LE(SettlesAt(threads, CountThreads), threads);
            if (HasFailure() || !reached)
                break;
            reached_any++;
            outcomes += std::string(outcomes.empty() ? "" : " ")
                        + (rc == 0 ? "0" : tickless_err_name(rc));
        }
        if (HasFailure())
            break;
        // What each failed call led to, for the log.
        printf("[ sysfail ] %s: %s\n", k.name,
               outcomes.empty() ? "not called" : outcomes.c_str());
    }
    // Something was failed in every mode: the socket() of each attempt.
    EXPECT_GE(reached_any, 2u);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(
    Race, ConnectSysFail,
    testing::ValuesIn(VariantList({ Mode::Dedicated, Mode::Pool2 })),
    VariantName);

} // namespace
