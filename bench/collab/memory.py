"""Server memory per idle WebSocket connection and per loaded 500-node document.

    python bench/collab/memory.py --base http://127.0.0.1:8301 --pid <web process pid>

Connects idle clients (they sync once, then stay silent) and opens rooms holding 500-node
workflows, reading the web process's RSS from /proc before and after each step.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from collab import protocol


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def make_docs(base: str, count: int, nodes: int) -> tuple[str, list[str]]:
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as ids:
        token = subprocess.check_output(
            [sys.executable, str(Path(__file__).with_name("setup_docs.py")), "--base", base, "--docs", str(count),
             "--nodes", str(nodes), "--ids-out", ids.name],
            text=True,
        ).strip()  # fmt: skip
        return token, Path(ids.name).read_text().split()


async def join(url: str) -> websockets.ClientConnection:
    ws = await websockets.connect(url, max_size=None)
    await ws.send(protocol.sync_step1(b"\x00"))
    while True:  # until the server's step 2 has arrived
        frame = await ws.recv()
        if isinstance(frame, bytes) and isinstance(protocol.decode(frame), protocol.SyncStep2):
            return ws


async def settle(pid: int) -> float:
    await asyncio.sleep(1.5)
    return rss_mb(pid)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--docs", type=int, default=10)
    args = parser.parse_args()
    ws_base = args.base.replace("http://", "ws://")
    gc.disable()

    token, (idle_doc,) = make_docs(args.base, 1, 0)
    first = await join(f"{ws_base}/ws/workflows/{idle_doc}?token={token}")
    before = await settle(args.pid)
    idle = [await join(f"{ws_base}/ws/workflows/{idle_doc}?token={token}") for _ in range(args.idle)]
    after = await settle(args.pid)
    per_connection_kb = (after - before) * 1024 / args.idle
    print(f"idle connections: {args.idle}; RSS {before:.1f} -> {after:.1f} MB; {per_connection_kb:.1f} KB each")

    token, docs = make_docs(args.base, args.docs, 500)
    before = await settle(args.pid)
    rooms = [await join(f"{ws_base}/ws/workflows/{doc}?token={token}") for doc in docs]
    after = await settle(args.pid)
    per_doc = (after - before) / args.docs
    print(f"500-node documents loaded: {args.docs}; RSS {before:.1f} -> {after:.1f} MB; {per_doc:.2f} MB each "
          "(room + its one connection)")  # fmt: skip
    for ws in [first, *idle, *rooms]:
        await ws.close()


if __name__ == "__main__":
    asyncio.run(main())
