"""`python -m infra.offline.bench_preview --in-process`: both previews of each stack named, timed in this process."""

from __future__ import annotations

import re

from infra.offline import bench_preview


def test_in_process_prints_the_first_and_the_second_preview_of_each_stack(capsys):
    assert bench_preview.main(["--in-process", "--stack", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"dev +timings\.total first +\d+\.\d\d s \(\d+\.\d\d s process time\), again +\d+\.\d\d s "
                        r"\(\d+\.\d\d s\)", lines[0]), lines[0]
