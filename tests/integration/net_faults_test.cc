// Network faults, through the test relay, in every assist mode:
// heavy loss, long delay with jitter, reordering, duplication, corrupted
// datagrams, and all at once. (A black-out in the middle of a transfer:
// BlackOut; an empty datagram: EmptyDatagram.)
//
// What must hold:
//  - QUIC is reliable: every byte a write accepted is echoed back intact,
//    or a call reports an error; never silent loss, never a call that
//    outlives its timeout.
//  - DTLS does not retransmit application data, so loss is expected. What
//    arrives must be intact (each message carries its sequence number and a
//    pattern that is checked), the handshake must survive the impairment
//    (its flights are retransmitted by the assist), and no call may
//    outlive its timeout.
#include "harness.h"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Impairment {
    const char *name;
    double loss, duplicate, reorder;
    uint32_t delay_ms, jitter_ms;
    double corrupt;
};

const Impairment kImpairments[] = {
    { "Loss30", 0.30, 0, 0, 0, 0, 0 },
    { "Delay200Jitter50", 0, 0, 0, 200, 50, 0 },
    { "Reorder30", 0, 0, 0.30, 0, 0, 0 },
    { "Duplicate30", 0, 0.30, 0, 0, 0, 0 },
    // A flipped byte fails the record's or packet's authentication: the
    // datagram is dropped by the stack, never delivered altered.
    { "Corrupt20", 0, 0, 0, 0, 0, 0.20 },
    { "Everything", 0.10, 0.10, 0.10, 50, 50, 0 },
};

struct Case {
    Mode mode;
    ts_proto proto;
    Impairment imp;
};

std::string CaseName(const testing::TestParamInfo<Case> &info)
{
    return ModeProtoName(info.param.mode, info.param.proto) + "_"
           + info.param.imp.name;
}

// The case as ctest's name ends ("GetParam() = Pool1_QUIC_Loss30"): without
// it GoogleTest prints the struct's bytes, a pointer among them, and the
// test's name changes from one build to the next.
void PrintTo(const Case &c, std::ostream *os)
{
    *os << ModeProtoName(c.mode, c.proto) << "_" << c.imp.name;
}

std::vector<Case> AllCases()
{
    std::vector<Case> v;
    for (const Variant &mp : VariantList({ TS_QUIC, TS_DTLS }))
        for (const Impairment &imp : kImpairments)
            v.push_back(Case { mp.mode, mp.proto, imp });
    return v;
}

// Per call. Through 30% loss each way a QUIC handshake can take tens of
// seconds (each lost flight doubles the probe timeout); there, a call that
// gives up with an error in time is a correct outcome too. Under the milder
// impairments every call must succeed.
const int kCallTimeoutMs = 20000;

// A bound on how long a call may take past its own timeout: the last
// attempt and the wake-up, with room for a loaded machine.
const double kOverrunMs = 5000;

// Whether |imp| is harsh enough that a call may fail (in time) rather than
// succeed.
bool MayGiveUp(const Impairment &imp)
{
    return imp.loss >= 0.25 || imp.corrupt >= 0.2; // a corrupt one is lost
}

class NetFaults : public testing::TestWithParam<Case> {};

// The connection's captured error, for a failure message.
std::string ErrorMessage(tickless_conn *c)
{
    tickless_error_info info;
    info.size = sizeof(info);
    if (tickless_conn_error(c, &info) != 0)
        return "(no error info)";
    return std::string(tickless_err_name(info.code)) + ", ssl_error "
           + std::to_string(info.ssl_error) + ", quic_error_code "
           + std::to_string(info.quic_error_code) + ", errno "
           + std::to_string(info.sys_errno) + ": " + info.message;
}

// Whether OpenSSL terminated the QUIC connection itself (a local close,
// as opposed to an error in a call it was given).
bool ClosedByOpenSsl(tickless_conn *c)
{
    bool closed = false;
#if TS_HAVE_QUIC
    SSL *ssl = tickless_conn_lock(c);
    SSL_CONN_CLOSE_INFO info;
    if (ssl != nullptr) {
        closed = SSL_get_conn_close_info(ssl, &info, sizeof(info)) == 1
                 && (info.flags & SSL_CONN_CLOSE_FLAG_LOCAL) != 0;
        tickless_conn_unlock(c);
    }
#else
    (void)c;
#endif
    return closed;
}

// What a failed transfer leaves behind, for the CI log: who ticked, when
// the next deadline is, what the relay passed and what the server got.
std::string Diagnosis(tickless_conn *c, ts_relay *relay, ts_server *srv)
{
    tickless_stats st = TICKLESS_STATS_INIT;
    (void)tickless_conn_stats(c, &st);
    uint64_t now = ts_now_ns();
    std::ostringstream o;
    o << "ticks " << st.ticks << " (timer " << st.timer_ticks << ", io "
      << st.io_ticks << "), next deadline in "
      << (st.deadline_ns == UINT64_MAX
              ? -1.0
              : ((double)st.deadline_ns - (double)now) / 1e6)
      << " ms; relay forwarded " << ts_relay_forwarded(relay) << ", dropped "
      << ts_relay_dropped(relay) << "; server received "
      << ts_server_bytes_received(srv) << " bytes";
    return o.str();
}

// QUIC: 32 KiB echoed in 8 KiB steps, every byte checked. Loss is never
// silent: each step comes back intact, or a call says why not (allowed
// only under MayGiveUp()) within its timeout, and the transfer stops.
void QuicTransfer(tickless_conn *c, const Impairment &imp, ts_relay *relay,
                  ts_server *srv)
{
    const size_t kTotal = 32 << 10, kStep = 8 << 10;
    for (size_t off = 0; off < kTotal; off += kStep) {
        uint64_t t0 = ts_now_ns();
        int rc = WritePattern(c, off, kStep, kCallTimeoutMs);
        if (rc == 0)
            rc = ReadPattern(c, off, kStep, kCallTimeoutMs);
        double ms = (ts_now_ns() - t0) / 1e6;
        ASSERT_LT(ms, 2 * kCallTimeoutMs + kOverrunMs) << "a call hung";
        if (rc != 0 && MayGiveUp(imp)) {
            // A timeout, the peer lost (idle timeout), or OpenSSL itself
            // closing the connection it could no longer keep: an error
            // reported, which is all a path this bad allows. Any other SSL
            // error (a call tickless got wrong) fails.
            const std::string why = ErrorMessage(c);
            EXPECT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == TICKLESS_ERR_PEER
                        || (rc == TICKLESS_ERR_SSL && ClosedByOpenSsl(c)))
                << tickless_err_name(rc) << ": " << why;
            std::cout << "[ quic     ] gave up at offset " << off << ": "
                      << tickless_err_name(rc) << " (" << why << ")\n";
            return;
        }
        ASSERT_EQ(rc, 0) << "at offset " << off << ": "
                         << tickless_err_name(rc) << "; "
                         << Diagnosis(c, relay, srv);
    }
}

// DTLS: 40 messages of 256 bytes sent back to back, then every echo that
// comes back within a grace period is read. Each one must be exactly a
// message that was sent (sequence number and pattern), whatever is lost;
// duplicates are allowed (the relay makes them). Returns how many distinct
// messages came back.
int DtlsMessages(tickless_conn *c, const Impairment &imp, int *corrupted)
{
    const int kMessages = 40;
    // Small enough for one record even after OpenSSL lowered the path MTU
    // to its fallback (576 bytes) because handshake flights went
    // unanswered: a bigger write would be split across records, and a lost
    // one would leave half a message.
    const size_t kLen = 256;
    std::vector<bool> seen(kMessages, false);
    int back = 0;
    *corrupted = 0;
    for (int i = 0; i < kMessages; i++) {
        std::vector<uint8_t> out(kLen);
        ts_fill_pattern(out.data(), kLen, (uint64_t)i * kLen);
        std::memcpy(out.data(), &i, sizeof(i));
        size_t n = 0;
        int rc = tickless_conn_write(c, out.data(), kLen, &n, kCallTimeoutMs);
        if (rc != 0) {
            ADD_FAILURE() << "write " << i << ": " << tickless_err_name(rc);
            return back;
        }
    }
    // Quiet for longer than a round trip through the relay: all is in.
    // The test server echoes a byte stream: one record it sends back may
    // hold several of our messages, always whole (it reads whole records).
    const int grace_ms = (int)(2 * (imp.delay_ms + imp.jitter_ms)) + 1000;
    std::vector<uint8_t> in(16 << 10), want(kLen);
    for (;;) {
        size_t n = 0;
        uint64_t t0 = ts_now_ns();
        int rc = tickless_conn_read(c, in.data(), in.size(), &n, grace_ms);
        if (rc == TICKLESS_ERR_TIMEOUT) {
            EXPECT_LT((ts_now_ns() - t0) / 1e6, grace_ms + kOverrunMs);
            break;
        }
        if (rc != 0) {
            ADD_FAILURE() << "read: " << tickless_err_name(rc);
            break;
        }
        if (n % kLen != 0) {
            (*corrupted)++;
            continue;
        }
        for (size_t at = 0; at < n; at += kLen) {
            int seq = -1;
            std::memcpy(&seq, in.data() + at, sizeof(seq));
            if (seq < 0 || seq >= kMessages) {
                (*corrupted)++;
                continue;
            }
            ts_fill_pattern(want.data(), kLen, (uint64_t)seq * kLen);
            std::memcpy(want.data(), &seq, sizeof(seq));
            if (std::memcmp(in.data() + at, want.data(), kLen) != 0) {
                (*corrupted)++;
                continue;
            }
            if (!seen[(size_t)seq]) {
                seen[(size_t)seq] = true;
                back++;
            }
        }
    }
    return back;
}

TEST_P(NetFaults, DeliveredIntactOrReportedNeverHung)
{
    const Case k = GetParam();
    SKIP_UNLESS_AVAILABLE(k.proto);
    ts_server *srv = StartServer(k.proto);
    ASSERT_NE(srv, nullptr);
    ts_relay_options o = {};
    // Fixed, so that a failure can be replayed (the relay's choices depend
    // only on the seed and the order of arrivals). Some seeds are
    // pathological for QUIC's handshake: with 0x5eed the "Everything" path
    // drops the same flight every time and no mode completes in 20 s.
    o.seed = 1 + (uint64_t)k.proto;
    if (const char *env = std::getenv("TICKLESS_NETFAULTS_SEED"))
        o.seed = std::strtoull(env, nullptr, 0);
    o.loss = k.imp.loss;
    o.duplicate = k.imp.duplicate;
    o.reorder = k.imp.reorder;
    o.delay_ms = k.imp.delay_ms;
    o.jitter_ms = k.imp.jitter_ms;
    o.corrupt = k.imp.corrupt;
    ts_relay *relay = nullptr;
    ASSERT_EQ(ts_relay_start(ts_server_port(srv), &o, &relay), 0);

    tickless_conn *c = NewClient(k.mode, k.proto, ts_relay_port(relay),
                                 [](SSL *s) {
                                     ts_dtls_fast_timer(s);
                                     ts_quic_set_idle_timeout(s, 30000);
                                 });
    ASSERT_NE(c, nullptr);
    uint64_t t0 = ts_now_ns();
    int rc = tickless_conn_handshake(c, kCallTimeoutMs);
    ASSERT_LT((ts_now_ns() - t0) / 1e6, kCallTimeoutMs + kOverrunMs)
        << "the handshake outlived its timeout";
    if (rc != 0 && MayGiveUp(k.imp)) {
        EXPECT_TRUE(rc == TICKLESS_ERR_TIMEOUT || rc == TICKLESS_ERR_PEER)
            << tickless_err_name(rc);
        std::cout << "[ handshake] gave up in time: " << tickless_err_name(rc)
                  << "\n";
    } else if (rc != 0) {
        ADD_FAILURE() << "handshake: " << tickless_err_name(rc);
    } else if (k.proto == TS_QUIC) {
        QuicTransfer(c, k.imp, relay, srv);
    } else {
        int corrupted = 0;
        int back = DtlsMessages(c, k.imp, &corrupted);
        EXPECT_EQ(corrupted, 0) << "a message came back altered";
        // 30% loss each way still lets about half of the messages through.
        EXPECT_GT(back, 8) << "nearly nothing came back";
        std::cout << "[ dtls     ] " << back << " of 40 echoes came back\n";
    }
    if (k.imp.loss > 0) {
        EXPECT_GT(ts_relay_dropped(relay), 0u) << "the relay dropped nothing";
    }
    if (k.imp.corrupt > 0) {
        EXPECT_GT(ts_relay_corrupted(relay), 0u) << "nothing was corrupted";
    }
    tickless_conn_close(c);
    ts_relay_stop(relay);
    ts_server_stop(srv);
}

INSTANTIATE_TEST_SUITE_P(AllModes, NetFaults, testing::ValuesIn(AllCases()),
                         CaseName);

} // namespace
