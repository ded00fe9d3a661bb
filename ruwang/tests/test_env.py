import re
from pathlib import Path

import pytest
from django.conf import settings

from ruwang.lib.env import ConfigError, env_bool, env_int, env_list, load_env_file


def test_typed_readers_parse_and_refuse_bad_values():
    assert env_bool("X", False, {"X": "yes"}) is True
    assert env_int("X", 5, environ={"X": "12"}) == 12
    assert env_list("X", [], {"X": "a, b,,c"}) == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="X must be a boolean"):
        env_bool("X", False, {"X": "maybe"})
    with pytest.raises(ConfigError, match="at least 1"):
        env_int("X", 5, minimum=1, environ={"X": "0"})


def test_env_file_fills_unset_variables_only(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nRW_T_A=1\nRW_T_B='two words'\nRW_T_C=\n")
    monkeypatch.setenv("RW_T_A", "kept")
    monkeypatch.delenv("RW_T_B", raising=False)
    load_env_file(env_file)
    import os

    assert os.environ["RW_T_A"] == "kept"
    assert os.environ["RW_T_B"] == "two words"
    assert "RW_T_C" not in os.environ
    monkeypatch.delenv("RW_T_B")


def test_malformed_env_file_line_is_named(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GOOD=1\nthis is not a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        load_env_file(env_file)


def test_env_example_lists_every_variable_the_settings_read():
    root = Path(settings.BASE_DIR)
    source = (root / "ruwang" / "settings.py").read_text()
    source += (root / "ruwang" / "management" / "commands" / "serve.py").read_text()
    used = set(re.findall(r'"((?:RUWANG|DATABASE|REDIS)_[A-Z_]+)"', source))
    listed = set(re.findall(r"^([A-Z_]+)=", (root / ".env.example").read_text(), re.MULTILINE))
    assert used - listed == set()
