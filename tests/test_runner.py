"""The embedded runner survives workers that die: every input still gets its record, in order."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

from marsaurora.pipeline import PipelineOptions
from marsaurora.runner import RECORDS_FILE, discover_inputs, run_batch, surviving_map

from hostile import shout_or_die


def test_an_item_that_kills_its_worker_becomes_its_own_record_and_the_rest_go_on():
    items = ["a", "b", "poison", "c", "d", "e", "f"]
    deaths = []

    def died(item, reason):
        deaths.append(item)
        return f"died: {item}"

    results = list(surviving_map(shout_or_die, items, 2, died))
    assert results == ["A", "B", "died: poison", "C", "D", "E", "F"]
    assert deaths == ["poison"]


def test_a_worker_that_dies_while_the_caller_holds_a_result_loses_no_item():
    """The pool breaks between two results; the next submit raises, and its item must survive."""
    results = []
    for result in surviving_map(shout_or_die, ["a", "poison", "b", "c", "d"], 1,
                                lambda item, reason: f"died: {item}"):
        results.append(result)
        time.sleep(0.5)
    assert results == ["A", "died: poison", "B", "C", "D"]


def test_a_worker_killed_mid_batch_costs_no_record(tmp_path, mixed_set):
    paths = discover_inputs([mixed_set]) * 2
    out = tmp_path / "out"
    done = threading.Event()
    killed = []

    def kill_one_worker():
        while not done.is_set():
            children = multiprocessing.active_children()
            if children and (out / RECORDS_FILE).exists() and (out / RECORDS_FILE).read_text():
                os.kill(children[0].pid, signal.SIGKILL)
                killed.append(children[0].pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    try:
        summary = run_batch(paths, out, PipelineOptions(detector=None), workers=2,
                            progress=False)
    finally:
        done.set()
        killer.join()
    assert killed, "the batch ended before a worker could be killed"
    records = [json.loads(line) for line in (out / RECORDS_FILE).open()]
    assert [r["observation"] for r in records] == [p.name for p in paths]
    assert summary.total == len(paths)
    assert all(r["status"] != "error" for r in records), "the files were fine; only a worker died"


def test_a_script_without_a_main_guard_is_told_so_not_given_out_of_memory_records(tmp_path,
                                                                                   mixed_set):
    """Spawned workers import the calling script; unguarded, each runs the batch again and
    dies on start-up. Without the start-up check every file was retried alone and recorded as
    a worker that died, "Out of memory?"."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from marsaurora.pipeline import PipelineOptions\n"
        "from marsaurora.runner import discover_inputs, run_batch\n"
        "run_batch(discover_inputs([Path(sys.argv[1])])[:3], Path(sys.argv[2]),\n"
        "          PipelineOptions(detector=None), workers=2, progress=False)\n")
    done = subprocess.run([sys.executable, str(script), str(mixed_set), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "WorkersCannotStart" in done.stderr and '__name__ == "__main__"' in done.stderr
    records = (tmp_path / "out" / RECORDS_FILE).read_text()
    assert "Out of memory" not in records
