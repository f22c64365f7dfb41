"""Bad input to observe, calibrate and gpucheck: exit 2, the flag named, nothing printed or written."""

import pytest

from breakeven import cli

OBS = ["observe", "--endpoint", "http://127.0.0.1:9"]
CAL = ["calibrate", "--endpoint", "http://127.0.0.1:9", "--model", "llama-3.1-8b", "--gpu", "L4"]

CASES = [
    (OBS + ["--window", "soon"], "--window"),
    (OBS + ["--window", "-1m"], "--window"),
    (OBS + ["--samples", "1"], "--samples"),
    (OBS + ["--model", "llama-9-1t"], "--model"),
    (OBS + ["--model", "llama-3.1-8b", "--gpu", "TPU-v9"], "--gpu"),
    (OBS + ["--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "lots"], "--tokens-per-month"),
    (OBS + ["--factors", "/no/such/factors.yaml"], "factors"),
    (OBS, "--endpoint"),                                         # nothing listens on port 9
    (["observe", "--endpoint", "ftp://x"], "--endpoint"),
    (["observe"], "--endpoint"),
    (["observe", "--selector", "app=vllm"], "--namespace"),
    (["observe", "--namespace", "llm", "--selector", ""], "--selector"),
    (["observe", "--prometheus", "prom:9090"], "--prometheus"),
    (["observe", "--prometheus", "http://p", "--stack", "dev", "--model-name", "x"], "--model-name"),
    (CAL[:-1] + ["L9"], "--gpu"),
    (CAL + ["--concurrency", "0,2"], "--concurrency"),
    (CAL + ["--max-tokens", "1"], "--max-tokens"),
    (CAL + ["--precision", "fp4"], "--precision"),
    (CAL[:4] + ["llama-3.1-70b"] + CAL[5:], "--gpus"),        # 70B bf16 does not fit one L4
    (CAL, "--endpoint"),
    (["gpucheck", "--gpu", "L4"], "gpu"),
]


@pytest.mark.parametrize("argv,key", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_refused(capsys, tmp_path, argv, key):
    written = tmp_path / "out.yaml"
    extra = ["--write-usage", str(written)] if argv[0] == "observe" else ["--out", str(written)] if argv[0] == "calibrate" else []
    try:
        code = cli.main(argv + extra)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert key in err and "Traceback" not in out + err
    assert out == "" and not written.exists()
