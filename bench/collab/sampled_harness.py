"""The shared collaboration harness, unchanged, recording every measured delivery.

`tail.sh` runs this in place of `collab_bench.py`: it loads the real harness from
`$REAL_HARNESS`, notes for each delivery it measures the edit's send time and the kernel's
receive time (both CLOCK_REALTIME, in ns), runs the harness's own `main`, and writes the pairs
to `$SAMPLES_OUT` as JSON. Everything the harness measures and prints is as without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

_spec = importlib.util.spec_from_file_location("collab_bench", os.environ["REAL_HARNESS"])
assert _spec is not None and _spec.loader is not None
harness: Any = importlib.util.module_from_spec(_spec)
sys.modules["collab_bench"] = harness
_spec.loader.exec_module(harness)

SAMPLES: list[tuple[int, int]] = []
_scan = harness.Client._scan_update


def _scan_update(self: Any, data: bytes) -> list[int]:
    stamps: list[int] = _scan(self, data)  # the send times of the deliveries it just measured
    SAMPLES.extend((sent, self._recv_ns) for sent in stamps)
    return stamps


harness.Client._scan_update = _scan_update

if __name__ == "__main__":
    code = harness.main()
    with open(os.environ["SAMPLES_OUT"], "w") as out:
        json.dump(SAMPLES, out)
    sys.exit(code)
