// aioquic's example HTTP/3 server (http3_server.py, python-aioquic-doc),
// spoken to over hq-interop (HTTP/0.9: "GET /path\r\n" on a
// bidirectional stream, the body back, then FIN) by tickless QUIC
// clients: shared by quic_interop_client_test.cc and
// quic_interop_http3_demo_test.cc, with the client helpers both use.
#ifndef TICKLESS_TESTS_AIOQUIC_HTTP3_SERVER_H
#define TICKLESS_TESTS_AIOQUIC_HTTP3_SERVER_H

#include "harness.h"
#include "peer_process.h"

#include <cstdint>
#include <string>
#include <vector>

// ALPN for a client SSL, as a harness tweak: |wire| is in wire format.
SslTweak Alpn(const char *wire);

// Ends the default stream (FIN) and keeps the connection: the escape hatch
// of tickless_conn_lock(): the default stream has no half-close call
// (tickless_stream_conclude() is for streams of the streams API).
bool Conclude(tickless_conn *c);

// Why aioquic's example server cannot run here, or "": aioquic, the
// example (python-aioquic-doc), the module it imports besides aioquic
// (wsproto), and with |demo| those of the demo application it ships
// (starlette, whose templates need jinja2).
std::string MissingHttp3Server(bool demo);

// aioquic's http3_server.py serving the ASGI application |app|, and
// connections to it over hq-interop. It is told its port, which can only
// be one that was free a moment ago: should it have been taken since, the
// server exits and another port is tried. It takes a second or so to start
// (starlette); meanwhile handshakes fail and are retried.
class Http3Server {
public:
    // Starts the server and returns a first connection (handshake done),
    // or nullptr after adding a test failure.
    tickless_conn *Start(Mode mode, const std::string &app);

    // Another connection to the running server, or nullptr.
    tickless_conn *Connect(int timeout_ms);

    std::string LogTail() const { return proc_.LogTail(); }

private:
    Mode mode_ = Mode::Dedicated;
    PemFiles pem_;
    PeerProcess proc_;
    uint16_t port_ = 0;
};

// GET |path| on |c|'s default stream: the request, our FIN, then the body
// up to the server's FIN into |body|. Returns 0 or the tickless error.
int HqGet(tickless_conn *c, const std::string &path, std::vector<uint8_t> *body);

// The same on a new stream of |c| (the streams API).
int HqGetOnStream(tickless_conn *c, const std::string &path,
                  std::vector<uint8_t> *body);

// Ends a connection as a client should, once every response is in.
void ShutdownAndClose(tickless_conn *c);

#endif
