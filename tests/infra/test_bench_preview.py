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


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |     pulumi_aws.ec2._enums
import time:      2000 |       2120 |   pulumi_aws.ec2
import time:       500 |       2620 | pulumi_aws
import time:       300 |        300 |   cost.units
import time:       700 |       1000 | cost
import time:        50 |         50 |       pulumi_kubernetes.core.v1.Binding
"""


def test_import_times_sum_each_package_own_time_with_the_sdk_by_service():
    times = bench_preview.import_times(IMPORTTIME)
    assert times == {"pulumi_aws.ec2": (2.12, 2), "cost": (1.0, 2), "pulumi_aws": (0.5, 1), "pulumi_kubernetes.core": (0.05, 1)}
    assert list(times) == ["pulumi_aws.ec2", "cost", "pulumi_aws", "pulumi_kubernetes.core"]   # largest first


def test_imported_lists_the_modules_in_import_order():
    assert bench_preview.imported(IMPORTTIME) == ["pulumi_aws.ec2._enums", "pulumi_aws.ec2", "pulumi_aws", "cost.units",
                                                  "cost", "pulumi_kubernetes.core.v1.Binding"]
