"""Settings persist as TOML; a broken file is reported and never overwritten."""

import pytest

from desktop.config import Settings, load_settings, save_settings
from desktop.errors import ConfigError


def test_defaults_when_there_is_no_file(tmp_path):
    assert load_settings(tmp_path / "settings.toml") == Settings()


def test_round_trip(tmp_path):
    path = tmp_path / "settings.toml"
    chosen = Settings(threads=1, context_size=1024, temperature=0.2, system_prompt="Be brief.")
    save_settings(chosen, path)
    assert load_settings(path) == chosen


def test_broken_toml_is_reported_with_its_line_and_kept(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("threads = 2\ncontext_size = = 9\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_settings(path)
    assert path.read_text() == "threads = 2\ncontext_size = = 9\n"


def test_wrong_type_and_bad_values_are_named(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('threads = "many"\n')
    with pytest.raises(ConfigError, match="threads"):
        load_settings(path)
    path.write_text("temperature = 9\n")
    with pytest.raises(ConfigError, match="temperature"):
        load_settings(path)


def test_integer_temperature_is_accepted_and_unknown_keys_ignored(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("temperature = 1\nfuture_option = true\n")
    assert load_settings(path).temperature == 1.0


def test_unwritable_settings_folder_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot save"):
        save_settings(Settings(), blocker / "settings.toml")


def test_satellites_are_a_list_of_tcp_addresses(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('satellites = ["tcp://glasses.local:10700", "tcp://10.0.0.7:10700"]\n')
    settings = load_settings(path)
    assert settings.satellites == ("tcp://glasses.local:10700", "tcp://10.0.0.7:10700")
    save_settings(settings, path)
    assert load_settings(path) == settings
    for bad in ('["glasses.local"]', '["tcp://glasses.local"]', '"tcp://a:1"', "[1, 2]"):
        path.write_text(f"satellites = {bad}\n")
        with pytest.raises(ConfigError, match="satellite"):
            load_settings(path)
