"""The spool's file handling: records read back, segments rotate and go once released, a live
process's segments are never taken, a killed process's are, and a torn tail ends the reading."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from collab.spool import Spool


def test_a_dead_spools_records_are_read_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    assert spool.write("d1", b"one", "ada") == 1
    assert spool.write("d2", b"two", None) == 2
    assert list(Spool(tmp_path).orphans()) == []  # alive: its lock is held
    spool.close(remove=False)  # as if the process died: the lock goes, the file stays
    (orphan,) = list(Spool(tmp_path).orphans())
    assert orphan.records == [("d1", "ada", b"one"), ("d2", None, b"two")]
    orphan.remove()
    assert list(tmp_path.iterdir()) == []


def test_full_segments_go_once_everything_in_them_is_released(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, segment_bytes=100)
    spool.open()
    seqs = [spool.write("d", b"x" * 100, None) for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert len(list(directory.glob("*.log"))) == 5  # one 100-byte update fills a segment
    spool.release(3)
    assert len(list(directory.glob("*.log"))) == 2  # the segments of 4 and 5 (5 is written to)
    spool.release(5)
    assert len(list(directory.glob("*.log"))) == 1  # the segment being written stays
    other = Spool(directory)
    other.open()
    spool.close(remove=True)
    assert len(list(directory.glob("*.log"))) == 1  # the other's segment: the directory stays
    other.close(remove=True)
    assert not directory.exists()  # the last one out removes the directory
    spool.open()  # and a process that starts later makes it again
    assert len(list(directory.glob("*.log"))) == 1
    spool.close(remove=True)


def test_a_torn_last_record_ends_the_reading(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.write("d", b"whole", None)
    spool.write("d", b"torn at the end", None)
    spool.close(remove=False)
    (path,) = tmp_path.glob("*.log")
    path.write_bytes(path.read_bytes()[:-3])
    (orphan,) = list(Spool(tmp_path).orphans())
    assert orphan.records == [("d", None, b"whole")]
    orphan.keep()


def test_a_killed_process_leaves_its_records_to_the_next_one(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from collab.spool import Spool\n"
        "s = Spool(Path(sys.argv[1])); s.open()\n"
        "for i in range(100): s.write('doc', b'u%d' % i, 'w')\n"
        "print('written', flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[3]
    ) as child:
        assert child.stdout is not None and child.stdout.readline() == b"written\n"
        assert list(Spool(tmp_path).orphans()) == []  # still alive
        os.kill(child.pid, signal.SIGKILL)
    (orphan,) = list(Spool(tmp_path).orphans())
    assert [update for _, _, update in orphan.records] == [b"u%d" % i for i in range(100)]
    orphan.remove()
