"""The 2025-2026 open models: architecture facts consistent, names resolve, APIs listed."""

import pytest

from cost import catalog
from cost.pricing.api_prices import offers_for

NEW = ("gpt-oss-20b", "gpt-oss-120b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b",
       "llama-4-scout", "llama-4-maverick", "deepseek-v3")


@pytest.mark.parametrize("mid", NEW)
def test_stated_parameters_match_the_config_dimensions(mid):
    """params_b (model card) agrees with what layers x widths x experts imply: a wrong layer count,
    expert count or width in models.yaml shows up here."""
    m = catalog.model(mid)
    assert m.params_from_architecture_b() == pytest.approx(m.params_b, rel=0.02)


@pytest.mark.parametrize("mid", [m for m in NEW if catalog.model(m).experts])
def test_active_parameters_match_top_k_routing(mid):
    """Active = everything but the routed experts + top-k/E of them. Model cards differ on whether the input
    embedding (a row lookup) counts, so the stated figure must lie between the two conventions (2 % slack)."""
    m = catalog.model(mid)
    implied = m.params_b - m.expert_params_b + m.expert_params_b * m.experts_per_token / m.experts
    lookup = m.vocab_size * m.hidden_size / 1e9
    assert (implied - lookup) * 0.98 <= m.active_params_b <= implied * 1.02


@pytest.mark.parametrize("name,mid", [
    ("openai/gpt-oss-120b", "gpt-oss-120b"), ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"), ("deepseek-ai/DeepSeek-V3.1", "deepseek-v3"),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507", "qwen3-235b-a22b"), ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "llama-4-maverick"),
])
def test_hugging_face_names_resolve(name, mid):
    assert catalog.model(name).id == mid


def test_every_new_model_has_equivalent_apis():
    for mid in NEW:
        assert [o for o in offers_for(mid) if o.tier == "equivalent"], mid


def test_deepseek_v3_2_is_not_an_alias():
    """V3.2 changes the attention (DeepSeek Sparse Attention): it must not silently price as V3."""
    with pytest.raises(catalog.InputError):
        catalog.model("deepseek-ai/DeepSeek-V3.2")
