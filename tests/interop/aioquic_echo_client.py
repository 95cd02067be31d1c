#!/usr/bin/env python3
"""A QUIC echo client on aioquic: sends N bytes of the test pattern
(quic_pattern.py) on one bidirectional stream, ends the stream, reads the
echo until the server's FIN and checks every byte. It verifies the server's
certificate against CAFILE for the name "localhost".

    aioquic_echo_client.py PORT CAFILE [--bytes N] [--alpn echo] [--timeout S]

Exit status 0 and "ok: N bytes echoed" on stdout if the echo was exact;
1 with the reason on stderr otherwise.
"""
import argparse
import asyncio
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration

from quic_pattern import first_difference, pattern


async def exchange(args, data):
    config = QuicConfiguration(is_client=True, alpn_protocols=[args.alpn],
                               server_name="localhost")
    config.load_verify_locations(cafile=args.cafile)
    async with connect("127.0.0.1", args.port, configuration=config) as conn:
        reader, writer = await conn.create_stream()
        writer.write(data)
        writer.write_eof()
        return await reader.read()  # everything, up to the server's FIN


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("cafile")
    parser.add_argument("--bytes", type=int, default=1 << 20)
    parser.add_argument("--alpn", default="echo")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    data = pattern(0, args.bytes)
    try:
        echo = asyncio.run(asyncio.wait_for(exchange(args, data), args.timeout))
    except (ConnectionError, asyncio.TimeoutError) as e:
        print(f"no echo: {type(e).__name__} {e}", file=sys.stderr)
        return 1
    bad = first_difference(echo, data)
    if len(echo) != args.bytes or bad != len(echo):
        print(f"echo differs: {len(echo)} of {args.bytes} bytes came back, "
              f"first wrong byte at {bad}", file=sys.stderr)
        return 1
    print(f"ok: {len(echo)} bytes echoed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
