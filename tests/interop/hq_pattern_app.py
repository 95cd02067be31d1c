"""An ASGI application for aioquic's http3_server.py example that serves
the test pattern (quic_pattern.py), so a client can check every byte of a
large response, not just its length:

    GET /pattern/N    ->  200, N bytes of the pattern (at most 64 MiB)
    anything else     ->  404

    python3 http3_server.py -c CERT -k KEY hq_pattern_app:app
(with this folder on PYTHONPATH). Over hq-interop (HTTP/0.9) only the
body goes on the wire.
"""
from quic_pattern import pattern

_MAX = 64 << 20


async def app(scope, receive, send):
    parts = scope["path"].split("/")
    if (scope["type"] != "http" or len(parts) != 3 or parts[1] != "pattern"
            or not parts[2].isdigit() or int(parts[2]) > _MAX):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found\n"})
        return
    body = pattern(0, int(parts[2]))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
