"""Live collaboration library: y-websocket protocol, rooms, Redis fan-out (pycrdt, asyncio, redis)."""
