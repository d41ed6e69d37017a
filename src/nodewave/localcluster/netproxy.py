"""A TCP forwarder from inside a real node's network namespace to the API server on the
machine's loopback: the one piece of kube-proxy a real node here needs.

Why: the API server listens on 127.0.0.1 only (nothing of ours listens beyond loopback), but a
real node lives in a network namespace of its own (`realnode.py` says why), and so do its
pods. Pods find the API server the way they do in any cluster, at the `kubernetes` Service's
cluster IP (KUBERNETES_SERVICE_HOST=10.0.0.1, port 443), and the kubelet uses the same address.
This process binds that address inside the node's namespace (the listening socket is made
after `setns` into it) and connects, from the machine's own namespace, to the API server's
loopback port: a socket keeps the namespace it was made in. TLS passes through untouched (the
API server's certificate names 10.0.0.1).

The same forwarder carries a node's image pulls to the local registry (registry.py); with
`--rate BYTES` it passes at most that many bytes a second towards the node (all its connections
together), a slow registry as the node sees it.

Run as `python -m nodewave.localcluster.netproxy --netns /run/netns/NAME --listen IP:PORT
--upstream 127.0.0.1:PORT [--rate BYTES]`; `ControlPlane` starts and stops it with the node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import time

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def bind_in_namespace(netns: str, host: str, port: int) -> socket.socket:
    """A listening socket made inside `netns`; the calling thread returns to its own namespace."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.create_server((host, port), reuse_port=False)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


class Pace:
    """At most `rate` bytes a second through every pipe that shares it: each chunk takes the
    next slot of len/rate seconds, and waits for its slot's end."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.free_at = 0.0

    async def take(self, size: int) -> None:
        now = time.monotonic()
        self.free_at = max(now, self.free_at) + size / self.rate
        await asyncio.sleep(self.free_at - now)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pace: Pace | None = None
) -> None:
    try:
        while data := await reader.read(16384 if pace else 65536):
            if pace is not None:
                await pace.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(
    listener: socket.socket, upstream_host: str, upstream_port: int, rate: int = 0
) -> None:
    pace = Pace(rate) if rate > 0 else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer, pace))

    server = await asyncio.start_server(handle, sock=listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netns", required=True, help="path of the network namespace")
    parser.add_argument("--listen", required=True, type=_address, help="IP:PORT inside it")
    parser.add_argument("--upstream", required=True, type=_address, help="IP:PORT outside it")
    parser.add_argument("--rate", type=int, default=0, help="bytes a second towards the node")
    args = parser.parse_args()
    listener = bind_in_namespace(args.netns, *args.listen)
    asyncio.run(serve(listener, *args.upstream, args.rate))


if __name__ == "__main__":
    main()
