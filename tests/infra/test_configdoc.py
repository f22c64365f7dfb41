"""The config reference in stacks/README.md is the schema's, so docs cannot drift from validation."""

from __future__ import annotations

from infra.config import configdoc, schema


def test_readme_reference_is_generated_from_the_schema():
    assert configdoc.current() == configdoc._block(configdoc.reference()), (
        "stacks/README.md differs from infra/config/schema.py: run python -m infra.config.configdoc --write")


def test_every_config_section_is_documented():
    documented = {model for _, _, model in configdoc.SECTIONS}
    sections = {m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, schema.Section)}
    assert sections - {schema.Section} == documented


def test_every_key_appears_with_what_it_allows_and_its_default():
    text = configdoc.reference()
    for _, _, model in configdoc.SECTIONS:
        for name, f in model.model_fields.items():
            assert f"`{f.alias}`" in text or f"`breakeven:{f.alias}`" in text, f.alias
            assert f.description, f"{model.__name__}.{name} has no description"
    assert "| `replicas` | a whole number, from 1 to 64, or \"auto\" | `1` |" in text


def test_check_fails_when_the_readme_drifts(tmp_path, monkeypatch):
    stale = tmp_path / "README.md"
    stale.write_text(configdoc.README.read_text().replace("from 1 to 64", "from 1 to 99"))
    monkeypatch.setattr(configdoc, "README", stale)
    assert configdoc.main(["--check"]) == 1
    configdoc.write(stale)
    assert configdoc.main(["--check"]) == 0
