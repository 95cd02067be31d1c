// tickless as a QUIC client against aioquic's example HTTP/3 server as
// shipped (http3_server.py, python-aioquic-doc), with its demo
// application, over hq-interop: GET /N answers N bytes of 'Z' (demo.py's
// padding page). Length and content checked; one mode is enough, the
// transport is QuicInteropClient's.
#include "aioquic_http3_server.h"

#include <string>
#include <vector>

namespace {

const size_t kTotal = 1 << 20;

} // namespace

TEST(QuicInteropHttp3Demo, PaddingPage)
{
    SKIP_UNLESS_AVAILABLE(TS_QUIC);
    NEED_PEER(MissingHttp3Server(true));
    Http3Server srv;
    tickless_conn *c = srv.Start(Mode::Dedicated, "demo:app");
    ASSERT_NE(c, nullptr);
    std::vector<uint8_t> body;
    int rc = HqGet(c, "/" + std::to_string(kTotal), &body);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc) << ": " << srv.LogTail();
    EXPECT_EQ(body.size(), kTotal);
    EXPECT_TRUE(body == std::vector<uint8_t>(body.size(), 'Z'))
        << "the body is not all 'Z'";
    ShutdownAndClose(c);
}

