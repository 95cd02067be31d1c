#!/usr/bin/env python3
"""A QUIC echo client on aioquic: sends N bytes of the test pattern
(quic_pattern.py) on a bidirectional stream, ends the stream, reads the
echo until the server's FIN and checks every byte. It verifies the server's
certificate against CAFILE for the name "localhost".

    aioquic_echo_client.py PORT CAFILE [--bytes N] [--alpn echo] [--timeout S]
                           [--connections C] [--streams K] [--resets R]

With C connections of K streams each, every stream is sent at once (all of
them concurrently, each its own slice of the pattern). The first R streams
of each connection are reset half-way instead of ended: no echo is
expected of them. Exit status 0 and "ok: N bytes echoed" on stdout (N the
bytes of the streams that were not reset, all together) if every echo was
exact; 1 with the reason on stderr otherwise.
"""
import argparse
import asyncio
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration

from quic_pattern import first_difference, pattern


async def echo_stream(conn, offset, size, reset):
    """The echo of one stream, or None for a stream reset half-way."""
    data = pattern(offset, size)
    reader, writer = await conn.create_stream()
    if reset:
        writer.write(data[:size // 2])
        await asyncio.sleep(0.05)  # some of it is on its way
        conn._quic.reset_stream(writer.get_extra_info("stream_id"), 0x77)
        conn.transmit()
        return None
    writer.write(data)
    writer.write_eof()
    echo = await reader.read()  # everything, up to the server's FIN
    bad = first_difference(echo, data)
    if len(echo) != size or bad != len(echo):
        raise ValueError(f"stream at {offset}: {len(echo)} of {size} bytes "
                         f"came back, first wrong byte at {bad}")
    return size


async def one_connection(args, index):
    config = QuicConfiguration(is_client=True, alpn_protocols=[args.alpn],
                               server_name="localhost")
    config.load_verify_locations(cafile=args.cafile)
    async with connect("127.0.0.1", args.port, configuration=config) as conn:
        base = index * args.streams
        sizes = await asyncio.gather(*(
            echo_stream(conn, (base + k) * args.bytes, args.bytes,
                        k < args.resets)
            for k in range(args.streams)))
        return sum(n for n in sizes if n is not None)


async def exchange(args):
    totals = await asyncio.gather(*(one_connection(args, i)
                                    for i in range(args.connections)))
    return sum(totals)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("cafile")
    parser.add_argument("--bytes", type=int, default=1 << 20)
    parser.add_argument("--alpn", default="echo")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--resets", type=int, default=0)
    args = parser.parse_args()
    try:
        echoed = asyncio.run(asyncio.wait_for(exchange(args), args.timeout))
    except (ConnectionError, asyncio.TimeoutError) as e:
        print(f"no echo: {type(e).__name__} {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"echo differs: {e}", file=sys.stderr)
        return 1
    print(f"ok: {echoed} bytes echoed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
