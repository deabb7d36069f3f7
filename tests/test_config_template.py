"""The configuration's keys as records (key_docs): complete, typed, with the schema's defaults."""

from __future__ import annotations

import yaml

from insarfusion.config import Config
from insarfusion.config_template import config_template, key_docs, type_words


def test_every_key_of_the_schema_once_in_order():
    docs = key_docs()
    keys = [d.key for d in docs]
    assert len(keys) == len(set(keys))
    assert [k for k in keys if "." not in k] == list(Config.model_fields)
    assert keys.index("spatial") < keys.index("spatial.cnn") < keys.index("spatial.cnn.epochs")
    assert "datasets[].name" in keys and "gnss.screening.steps_file" in keys


def test_defaults_types_and_help_from_the_schema():
    docs = {d.key: d for d in key_docs()}
    assert docs["spatial.cnn.epochs"].default == "100"
    assert docs["spatial.cnn.epochs"].type == "integer"
    assert docs["spatial.cnn.device"].default == "auto"
    assert docs["temporal.method"].type == "lstm | linear | pchip | auto"
    assert docs["spatial.baselines"].type == "list of (nearest | idw | kriging | linear)"
    assert docs["crs"].type == "text | null" and docs["crs"].default == "null"
    assert docs["datasets"].required and docs["datasets"].section
    assert docs["datasets"].type == "list of sections"
    assert docs["gnss"].type == "section | null" and not docs["gnss"].required
    assert docs["datasets[].path"].required and docs["datasets[].path"].type == "path"
    assert all(d.help for d in docs.values())  # every key has its one-line help


def test_records_agree_with_the_template():
    """The defaults of the records are those the template (and so the schema) writes."""
    template = yaml.safe_load(config_template())
    docs = {d.key: d for d in key_docs()}
    for section in ("time", "temporal", "spatial", "validation", "atmosphere"):
        for key, value in template[section].items():
            if isinstance(value, dict):
                continue
            assert yaml.safe_load(docs[f"{section}.{key}"].default) == value, (section, key)


def test_type_words():
    assert type_words(bool) == "true | false"
    assert type_words(list[float]) == "list of number"
    assert type_words(int | None) == "integer | null"
