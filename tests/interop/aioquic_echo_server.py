#!/usr/bin/env python3
"""A QUIC echo server on aioquic, a QUIC stack that shares no code with
OpenSSL: everything a client sends on a bidirectional stream comes back on
it, and the client's FIN is answered with a FIN. Every stream is echoed by
a task of its own, so a client's streams are served at once, not in turn.

    aioquic_echo_server.py CERT KEY [--alpn echo] [--port 0] [--host 127.0.0.1]

It binds 127.0.0.1, or --host ("::1"; "::" for both families), on --port
(0: any free port), then prints the port on a line of its own on stdout, so
a test never has to guess a free port. Runs until it is killed.
"""
import argparse
import asyncio
import sys

from aioquic.asyncio import serve
from aioquic.quic.configuration import QuicConfiguration


async def echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
    writer.write_eof()


async def main(args):
    config = QuicConfiguration(is_client=False, alpn_protocols=[args.alpn])
    config.load_cert_chain(args.cert, args.key)
    # aioquic calls the stream handler synchronously: start a task.
    server = await serve(args.host, args.port, configuration=config,
                         stream_handler=lambda r, w: asyncio.ensure_future(echo(r, w)))
    # serve() does not say which port it got; its transport does.
    print(server._transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cert")
    parser.add_argument("key")
    parser.add_argument("--alpn", default="echo")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
