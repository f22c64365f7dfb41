"""preview --usage MODEL=FILE: a stack's model priced on a measured usage file."""

import pytest

from cost.errors import InputError
from infra.offline import preview
from tests.cost.test_usage import GOOD, write


@pytest.mark.helm
def test_preview_prices_a_stack_model_on_its_usage_file(tmp_path, capsys):
    """preview --usage MODEL=FILE: the stack's model is priced (and policy-checked) on the measured workload."""
    path = write(tmp_path, GOOD)
    over = preview.usage_overrides("dev", {"chat-8b": path})
    (m,) = over["breakeven:models"]
    assert m["workload"] == {"tokensPerMonth": 2.5e9, "avgInputTokens": 1200, "avgOutputTokens": 300}
    assert m["instanceType"] == "g6.xlarge"          # everything but the workload as declared
    p = preview.plan("dev", overrides=over)
    spec_model = p.spec.model("chat-8b")
    assert spec_model.workload.tokens_per_month == 2.5e9
    with pytest.raises(InputError, match="usage: got 'nope="):
        preview.usage_overrides("dev", {"nope": path})
    assert preview.main("dev", "table", usage_files={"nope": path}) == 2


def test_preview_refuses_a_usage_file_measured_on_another_model(tmp_path, capsys):
    path = write(tmp_path, {**GOOD, "model": "llama-3.1-70b"})   # dev's chat-8b serves llama-3.1-8b
    with pytest.raises(InputError, match=r"usage: got 'chat-8b=.*allowed: a usage file measured on llama-3.1-8b"):
        preview.usage_overrides("dev", {"chat-8b": path})
    assert preview.main("dev", "table", usage_files={"chat-8b": path}) == 2
    assert "measured on llama-3.1-70b" in capsys.readouterr().err
