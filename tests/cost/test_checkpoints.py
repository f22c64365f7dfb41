"""The checkpoint catalog: which repo vLLM loads per model and precision, its bytes and its flags."""

from __future__ import annotations

import re

import pytest

from cost import catalog
from cost.catalog import checkpoints
from cost.errors import InputError


def test_every_catalog_model_has_a_checkpoint_vllm_can_load():
    for mid in catalog.models():
        precisions = checkpoints.precisions(mid)
        assert precisions, mid
        for p in precisions:
            c = checkpoints.known(mid, p)
            assert c.repo and c.bytes > 0, (mid, p)


def test_the_2025_26_models_resolve_from_checkpoints_yaml_with_their_own_sources():
    gpt = checkpoints.resolve("gpt-oss-20b", "mxfp4", None, "m")
    assert (gpt.repo, gpt.bytes, gpt.flags, gpt.bytes_from) == ("openai/gpt-oss-20b", 13_740_000_000, (), "files")
    assert gpt.source.startswith("OpenAI gpt-oss model card") and gpt.source.endswith("(checked 2026-11-29)")
    # An entry without its own source takes the file's.
    assert checkpoints.known("gemma-2-27b", "bf16").source.startswith("Hugging Face repository pages")
    # DeepSeek-V3 ships FP8 only: bf16 would download the FP8 repo, so it is refused naming the precision.
    with pytest.raises(InputError) as info:
        checkpoints.resolve("deepseek-v3", "bf16", None, "breakeven:models[0]")
    assert info.value.key == "breakeven:models[0].precision" and info.value.allowed == "fp8"


def test_every_new_model_has_a_checkpoint():
    for mid in ("gpt-oss-20b", "gpt-oss-120b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b",
                "llama-4-scout", "llama-4-maverick", "deepseek-v3"):
        assert checkpoints.precisions(mid), mid


def test_models_yaml_holds_no_checkpoints():
    """checkpoints.yaml is the one source: a `checkpoints:` block in models.yaml would be silently ignored."""
    for mid, m in catalog._load("models.yaml")["models"].items():
        assert "checkpoints" not in m, mid


def test_every_entry_is_a_precision_its_model_can_be_served_at():
    for (mid, prec), c in checkpoints.checkpoints().items():
        assert prec == c.precision and prec != "fp16" and catalog.model(mid).serves(prec), (mid, prec)
    assert catalog.model("gpt-oss-120b").serves("mxfp4") and not catalog.model("qwen3-32b").serves("mxfp4")


DOC = {"source": "file source", "checked": "2026-11-29",
       "checkpoints": {"qwen3-8b": {"bf16": {"repo": "Qwen/Qwen3-8B", "bytes": 16_380_000_000, "bytes_from": "files"}}}}


@pytest.mark.parametrize("model,precision,entry,message", [
    ("qwen4-9b", "bf16", {}, "'qwen4-9b' is not a model of models.yaml"),
    ("qwen3-8b", "fp4", {}, "qwen3-8b.fp4: not a precision qwen3-8b can be served at (bf16, fp8, int4-awq"),
    ("qwen3-8b", "mxfp4", {}, "qwen3-8b.mxfp4: not a precision"),
    ("qwen3-8b", "fp16", {}, "bf16 entries serve fp16"),
    ("qwen3-8b", "bf16", {"bytes": 0}, "bytes must be > 0"),
    ("qwen3-8b", "bf16", {"bytes_from": "guess"}, "bytes_from one of"),
])
def test_a_bad_entry_is_a_load_error_naming_it(model, precision, entry, message):
    doc = {**DOC, "checkpoints": {model: {precision: {**DOC["checkpoints"]["qwen3-8b"]["bf16"], **entry}}}}
    with pytest.raises(ValueError, match=re.escape(message)):
        checkpoints.parse(doc)
    assert checkpoints.parse(DOC)[("qwen3-8b", "bf16")].source == "file source (checked 2026-11-29)"


def test_a_precision_the_model_cannot_serve_names_the_precision_not_source():
    with pytest.raises(InputError) as info:
        checkpoints.resolve("mistral-7b", "mxfp4", None, "breakeven:models[0]")
    assert info.value.key == "breakeven:models[0].precision" and "mxfp4" not in info.value.allowed


@pytest.mark.parametrize("key", sorted(checkpoints.checkpoints()), ids=lambda k: f"{k[0]}-{k[1]}")
def test_bytes_match_the_architecture(key):
    """A typo in `bytes` (a digit too many or too few) sizes every cache and disk wrong: each entry must
    sit between the linear layers at the precision's width and every parameter at 16 bits."""
    c = checkpoints.checkpoints()[key]
    m = catalog.model(c.model)
    low = m.params_b * 1e9 * catalog.BYTES_PER_PARAM[c.precision]
    assert low * 0.98 <= c.bytes <= m.params_b * 1e9 * 2 * 1.01, (c.bytes, low)
    # Quantized repos are not the 16-bit repo: vLLM would quantize nothing (AWQ) or download twice the bytes (FP8).
    sixteen_bit = checkpoints.known(c.model, "bf16")
    if c.precision != "bf16" and sixteen_bit is not None:
        assert c.repo != sixteen_bit.repo
        assert c.bytes < sixteen_bit.bytes * 0.6


def test_quantized_checkpoints_declare_their_scheme_or_pin_a_kernel():
    for c in checkpoints.checkpoints().values():
        assert all(f.startswith("--") for f in c.flags)
        if c.precision in ("fp8", "mxfp4"):   # config.json declares the scheme; a flag would contradict it
            assert c.flags == ()
        if c.precision == "int4-awq":
            assert c.flags == ("--quantization=awq_marlin",)


def test_fp16_uses_the_16_bit_checkpoint():
    fp16 = checkpoints.resolve("llama-3.1-8b", "fp16", None, "m")
    assert fp16.repo == "meta-llama/Llama-3.1-8B-Instruct" and fp16.bytes == 16_060_522_496


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
