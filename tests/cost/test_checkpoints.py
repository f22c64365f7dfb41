"""The checkpoint catalog: which repo vLLM loads per model and precision, its bytes and its flags."""

from __future__ import annotations

import pytest

from cost import catalog, checkpoints
from cost.errors import InputError


def test_every_catalog_model_has_a_checkpoint_vllm_can_load():
    for mid, m in catalog.models().items():
        precisions = checkpoints.precisions(mid)
        assert precisions, mid
        for p in precisions:
            c = checkpoints.known(mid, p)
            assert c.repo and c.bytes > 0, (mid, p)


def test_models_yaml_checkpoints_are_read_where_checkpoints_yaml_has_none():
    gpt = checkpoints.resolve("gpt-oss-20b", "mxfp4", None, "m")
    assert (gpt.repo, gpt.bytes, gpt.flags, gpt.bytes_from) == ("openai/gpt-oss-20b", 13_740_000_000, (), "models.yaml")
    # DeepSeek-V3 ships FP8 only: bf16 would download the FP8 repo, so it is refused naming the precision.
    with pytest.raises(InputError) as info:
        checkpoints.resolve("deepseek-v3", "bf16", None, "breakeven:models[0]")
    assert info.value.key == "breakeven:models[0].precision" and info.value.allowed == "fp8"


@pytest.mark.parametrize("key", sorted(checkpoints.checkpoints()), ids=lambda k: f"{k[0]}-{k[1]}")
def test_bytes_match_the_architecture(key):
    """A typo in `bytes` (a digit too many or too few) sizes every cache and disk wrong: each entry must
    sit between the linear layers at the precision's width and every parameter at 16 bits."""
    c = checkpoints.checkpoints()[key]
    m = catalog.model(c.model)
    low = m.params_b * 1e9 * catalog.BYTES_PER_PARAM[c.precision]
    assert low * 0.98 <= c.bytes <= m.params_b * 1e9 * 2 * 1.01, (c.bytes, low)
    # Quantized repos are not the 16-bit repo: vLLM would quantize nothing (AWQ) or download twice the bytes (FP8).
    if c.precision != "bf16":
        assert c.repo != checkpoints.checkpoints()[(c.model, "bf16")].repo
        assert c.bytes < checkpoints.checkpoints()[(c.model, "bf16")].bytes * 0.6


def test_quantized_checkpoints_declare_their_scheme_or_pin_a_kernel():
    for c in checkpoints.checkpoints().values():
        assert all(f.startswith("--") for f in c.flags)
        if c.precision == "fp8":      # compressed-tensors: config.json declares it; a flag would contradict it
            assert c.flags == ()
        if c.precision == "int4-awq":
            assert c.flags == ("--quantization=awq_marlin",)


def test_fp16_uses_the_16_bit_checkpoint():
    fp16 = checkpoints.resolve("llama-3.1-8b", "fp16", None, "m")
    assert fp16.repo == "meta-llama/Llama-3.1-8B-Instruct" and fp16.bytes == 16_060_000_000


def test_a_quantized_precision_without_a_checkpoint_names_source():
    with pytest.raises(InputError) as info:
        checkpoints.resolve("gemma-2-27b", "int4-awq", None, "breakeven:models[0]")
    e = info.value
    assert e.key == "breakeven:models[0].source" and e.value is None
    assert "pre-quantized int4-awq checkpoint of gemma-2-27b" in e.allowed and "bf16" in e.allowed


def test_a_user_source_keeps_the_architectures_size_and_flags():
    c = checkpoints.resolve("llama-3.1-70b", "int4-awq", "your-org/ft-awq", "k")
    assert c.repo == "your-org/ft-awq" and c.bytes == 39_770_000_000 and c.flags == ("--quantization=awq_marlin",)
    own = checkpoints.resolve("gemma-2-27b", "fp8", "your-org/gemma-fp8", "k")
    assert own.repo == "your-org/gemma-fp8" and own.bytes == pytest.approx(27.2e9, rel=0.01)
