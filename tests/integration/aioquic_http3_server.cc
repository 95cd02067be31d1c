#include "aioquic_http3_server.h"

#include <cstdlib>
#include <cstring>

namespace {

const char kHq[] = "\x0a"
                   "hq-interop";

// Reads until the peer's FIN; returns 0 (with |out| filled) or the error.
int ReadToEof(tickless_conn *c, std::vector<uint8_t> *out, int timeout_ms)
{
    std::vector<uint8_t> buf(65536);
    for (;;) {
        size_t n = 0;
        int rc = tickless_conn_read(c, buf.data(), buf.size(), &n, timeout_ms);
        if (rc == TICKLESS_ERR_EOF)
            return 0;
        if (rc != 0)
            return rc;
        out->insert(out->end(), buf.begin(), buf.begin() + (long)n);
    }
}

std::string AioquicExamples()
{
    const char *dir = std::getenv("TICKLESS_AIOQUIC_EXAMPLES");
    return dir != nullptr && *dir != '\0'
               ? dir
               : "/usr/share/doc/python-aioquic-doc/examples";
}

} // namespace

SslTweak Alpn(const char *wire)
{
    return [wire](SSL *ssl) {
        SSL_set_alpn_protos(ssl, (const unsigned char *)wire, strlen(wire));
    };
}

bool Conclude(tickless_conn *c)
{
    SSL *ssl = tickless_conn_lock(c);
    if (ssl == nullptr)
        return false;
#if TS_HAVE_QUIC
    int ok = SSL_stream_conclude(ssl, 0);
#else
    int ok = 0; // never reached: without QUIC the tests skip
#endif
    tickless_conn_unlock(c);
    return ok == 1;
}

std::string MissingHttp3Server(bool demo)
{
    std::string why = MissingPythonModule("aioquic", "python3-aioquic");
    if (why.empty())
        why = MissingFile(AioquicExamples() + "/http3_server.py",
                          "python-aioquic-doc");
    if (why.empty())
        why = MissingPythonModule("wsproto", "python3-wsproto");
    if (why.empty() && demo)
        why = MissingPythonModule("starlette", "python3-starlette");
    if (why.empty() && demo)
        why = MissingPythonModule("jinja2", "python3-jinja2");
    return why;
}

tickless_conn *Http3Server::Start(Mode mode, const std::string &app)
{
    mode_ = mode;
    if (!pem_.Make()) {
        ADD_FAILURE() << "cannot write the PEM files";
        return nullptr;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        port_ = FreeUdpPort();
        proc_.Stop();
        proc_.SetEnv("PYTHONPATH", TICKLESS_INTEROP_DIR); // for our app
        if (!proc_.Start({ "python3", "-B",
                           AioquicExamples() + "/http3_server.py", "--host",
                           "127.0.0.1", "--port", std::to_string(port_), "-c",
                           pem_.cert, "-k", pem_.key, app },
                         pem_.dir, false)) {
            ADD_FAILURE() << proc_.Error();
            return nullptr;
        }
        uint64_t end = ts_now_ns() + 20000000000u;
        while (ts_now_ns() < end && proc_.Running()) {
            tickless_conn *c = Connect(1000);
            if (c != nullptr)
                return c;
            ts_sleep_ms(50);
        }
        if (proc_.Running())
            break; // it runs, but does not answer
    }
    ADD_FAILURE() << "no hq-interop handshake with http3_server.py: "
                  << proc_.LogTail();
    return nullptr;
}

tickless_conn *Http3Server::Connect(int timeout_ms)
{
    tickless_conn *c = NewClient(mode_, TS_QUIC, port_, Alpn(kHq));
    if (c != nullptr && tickless_conn_handshake(c, timeout_ms) != 0) {
        tickless_conn_close(c);
        c = nullptr;
    }
    return c;
}

int HqGet(tickless_conn *c, const std::string &path, std::vector<uint8_t> *body)
{
    std::string req = "GET " + path + "\r\n";
    size_t n = 0;
    int rc = tickless_conn_write(c, req.data(), req.size(), &n, 10000);
    if (rc == 0 && !Conclude(c))
        rc = TICKLESS_ERR_SSL;
    if (rc == 0)
        rc = ReadToEof(c, body, 30000);
    return rc;
}

int HqGetOnStream(tickless_conn *c, const std::string &path,
                  std::vector<uint8_t> *body)
{
    tickless_stream *s = nullptr;
    int rc = tickless_stream_open(c, 0, &s, 10000);
    if (rc != 0)
        return rc;
    std::string req = "GET " + path + "\r\n";
    size_t n = 0;
    rc = tickless_stream_write(s, req.data(), req.size(), &n, 10000);
    if (rc == 0)
        rc = tickless_stream_conclude(s);
    std::vector<uint8_t> buf(65536);
    while (rc == 0) {
        rc = tickless_stream_read(s, buf.data(), buf.size(), &n, 30000);
        if (rc == 0)
            body->insert(body->end(), buf.begin(), buf.begin() + (long)n);
    }
    tickless_stream_close(s);
    return rc == TICKLESS_ERR_EOF ? 0 : rc;
}

void ShutdownAndClose(tickless_conn *c)
{
    int rc = tickless_conn_shutdown(c, 5000);
    EXPECT_EQ(rc, 0) << tickless_err_name(rc);
    tickless_conn_close(c);
}
