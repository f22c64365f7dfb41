"""The one strict reader: valid files read exactly as PyYAML/json read them; what it refuses is named."""

from __future__ import annotations

import json

import pytest
import yaml

from cost.catalog import strictload
from cost.errors import InputError
from infra.config.stackconfig import ROOT

SHIPPED_YAML = sorted([*ROOT.glob("cost/data/**/*.yaml"), *ROOT.glob("stacks/*.yaml"), ROOT / "Pulumi.yaml",
                       ROOT / "infra" / "data" / "zones.yaml", ROOT / "policies" / "PulumiPolicy.yaml"])


@pytest.mark.parametrize("path", SHIPPED_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_reads_as_pyyaml_reads_it(path):
    text = path.read_text(encoding="utf-8")
    assert strictload.yaml_text(text, path.name) == yaml.safe_load(text)


def test_merge_keys_and_aliases_within_bounds_still_read():
    doc = strictload.yaml_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\nl: [*b, *b]\n", "f.yaml")
    assert doc == {"base": {"x": 1, "y": 2}, "d": {"x": 1, "y": 3}, "l": [{"x": 1, "y": 2}] * 2}


@pytest.mark.parametrize("text,message", [
    ("a: 1\nb:\n  c: 2\n  c: 3\n", "f.yaml: b.c: got 'repeated key (first at line 3)'; allowed: each key once per "
                                  "mapping (line 4, column 3)"),
    ("true: 1\nTrue: 2\n", "f.yaml: True: got 'repeated key (first at line 1)'"),       # the same key once read
    ("a:\n  - x: 1\n    x: 2\n", "f.yaml: a[0].x: got 'repeated key"),
    ("a: [1, .inf]\n", "f.yaml: a[1]: got '.inf'; allowed: a finite number of magnitude at most 1e+18"),
    ("a: -1.5e+19\n", "f.yaml: a: got '-1.5e+19'"),
    ("a: &a [*a]\n", "f.yaml: a[0]: got '*a'; allowed: an alias of an anchor defined (and closed) before it"),
    ("? [a]\n: 1\n", "got 'a key that is a mapping or a list'"),
    ("a: 1\n---\nb: 2\n", "got 'a second document'; allowed: one YAML document per file"),
    ("a: [\n", "f.yaml: got 'YAML syntax error at line 2, column 1'; allowed: a valid YAML document"),
    ("a: !!python/object:os.system x\n", "f.yaml: got 'a YAML tag it cannot read at line 1, column 4'"),
    ("[" * 65 + "]" * 65, "got 'nesting deeper than 64 levels'"),
])
def test_refusals_name_the_file_the_key_and_the_line(text, message):
    with pytest.raises(InputError) as err:
        strictload.yaml_text(text, "f.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sixty_four_levels_read_and_sixty_five_do_not():
    assert strictload.yaml_text("[" * 64 + "]" * 64, "f.yaml") is not None
    assert strictload.json_text("[" * 64 + "]" * 64, "f.json") is not None
    with pytest.raises(InputError, match="deeper than 64"):
        strictload.json_text("[" * 65 + "]" * 65, "f.json")


@pytest.mark.parametrize("text,message", [
    ('{"a": {"b": 1, "b": 2}}', "u: got '{\"a\": {\"b\": 1, \"b\": 2}}'; allowed: a valid JSON document (repeated key 'b')"),
    ('{"a": [1, NaN]}', "u: a[1]: got nan; allowed: a finite number of magnitude at most 1e+18"),
    ('{"a": -1e400}', "u: a: got -inf"),
    ("<!DOCTYPE html><html>", "u: got '<!DOCTYPE html><html>'; allowed: a valid JSON document (Expecting value"),
])
def test_json_refusals_name_the_source_and_what_it_held(text, message):
    with pytest.raises(InputError) as err:
        strictload.json_text(text, "u")
    assert message in str(err.value)


def test_a_given_key_names_a_whole_document_error_with_the_file_as_its_value(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text("a: [\n")
    with pytest.raises(InputError) as err:
        strictload.load_yaml(path, "price_book", "price book YAML file")
    assert (err.value.key, err.value.value) == ("price_book", str(path))
    with pytest.raises(InputError) as err:
        strictload.load_json(tmp_path / "missing.json", "--compare-to")
    assert err.value.key == "--compare-to" and err.value.detail == "No such file or directory"


def test_valid_json_reads_as_json_reads_it():
    text = json.dumps({"a": [1, 2.5, {"b": None, "c": True}], "d": "x" * 10, "e": 1e18})
    assert strictload.json_text(text, "u") == json.loads(text)
