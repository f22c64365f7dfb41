"""Bad input on the command line: exit 2, one clear line naming the flag, the value and what is allowed."""

import subprocess
import sys

import pytest

BASE = ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M"]


def run(args):
    return subprocess.run([sys.executable, "-m", "breakeven", *args], capture_output=True, text=True)


def with_(flag, value):
    args = list(BASE)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    return args


@pytest.mark.parametrize("args,needle", [
    (with_("--model", "gpt-9"), "--model: got 'gpt-9'; allowed: llama-3.1-8b"),
    (with_("--gpu", "V100"), "--gpu: got 'V100'; allowed:"),
    (BASE[:-2] + ["--tokens-per-month=-5M"], "--tokens-per-month: got '-5M'"),
    (with_("--tokens-per-month", "lots"), "--tokens-per-month: got 'lots'"),
    (with_("--input-share", "1.5"), "--input-share: got 1.5; allowed: a fraction strictly between 0 and 1"),
    (with_("--replicas", "two"), "--replicas: got 'two'"),
    (with_("--price-book", "no-such-book"), "no-such-book"),
    (["estimate", "--model", "llama-3.1-70b", "--gpu", "L4", "--tokens-per-month", "1B"], "--gpus: got '1x L4'"),
])
def test_bad_input_exits_2_without_traceback(args, needle):
    r = run(args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_model_that_does_not_fit_names_what_does():
    r = run(["estimate", "--model", "llama-3.1-70b", "--gpu", "A100-80GB", "--tokens-per-month", "1B"])
    assert r.returncode == 2
    assert "2 x A100-80GB" in r.stderr or "2x A100-80GB" in r.stderr
