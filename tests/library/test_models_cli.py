"""`parley models add` and `parley ask --model` on every malformed GGUF sample:
each gets its own one-line message, exit code 2, and nothing is copied."""

import pytest

from tests import gguf_samples
from tests.conftest import run_parley
from tests.engine.llm.test_gguf_check import EXPECTED, TEMPLATE_SAMPLES

ALL = {**EXPECTED, **TEMPLATE_SAMPLES}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return gguf_samples.make_malformed(tmp_path_factory.mktemp("cli-samples"))


def one_line_error(done, fragment):
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("parley: error:"), done.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("sample", sorted(ALL))
def test_models_add_refuses_a_malformed_file(samples, sample, parley_home):
    done = run_parley("models", "add", str(samples[sample]), timeout=60)
    one_line_error(done, ALL[sample])
    assert not (parley_home / "data" / "models" / samples[sample].name).exists()


@pytest.mark.parametrize("sample", sorted(ALL))
def test_ask_with_a_malformed_model_says_why(samples, sample):
    done = run_parley("ask", "--text", "Hi", "--model", str(samples[sample]), timeout=60)
    one_line_error(done, ALL[sample])


def test_models_add_copies_a_good_model_after_a_trial_load(starter, parley_home, tmp_path):
    import shutil

    mine = tmp_path / "my-model.gguf"
    shutil.copyfile(starter["llm"], mine)
    done = run_parley("models", "add", str(mine), timeout=120)
    assert done.returncode == 0, done.stderr
    copied = parley_home / "data" / "models" / "my-model.gguf"
    assert copied.read_bytes() == mine.read_bytes()
    assert not list(copied.parent.glob("*.part"))
    listed = run_parley("models", "list")
    assert "my-model" in listed.stdout
    again = run_parley("models", "add", str(mine))
    one_line_error(again, "already in")
    removed = run_parley("models", "remove", "my-model.gguf")
    assert removed.returncode == 0 and not copied.exists()


def test_a_base_model_is_not_added(gemma_base):
    one_line_error(run_parley("models", "add", str(gemma_base)), "no chat template")


def test_default_points_the_settings_at_a_model(starter, parley_home):
    from desktop.config import load_settings

    done = run_parley("models", "default", str(starter["llm"]))
    assert done.returncode == 0, done.stderr
    assert load_settings().llm_model == str(starter["llm"].resolve())
    done = run_parley("models", "default", "smollm2-135m-instruct-q4_1")
    assert done.returncode == 0, done.stderr
    assert load_settings().llm_model == ""


def test_unknown_catalog_id_suggests_close_ones():
    done = run_parley("models", "download", "smollm2-135m-instruct")
    one_line_error(done, "no model 'smollm2-135m-instruct' in the catalog")
    assert "smollm2-135m-instruct-q4_1" in done.stderr


def test_download_default_verify_remove_through_a_stand_in_hub(starter, tmp_path):
    """The hub is the one part that cannot exist here: tests/hub_server.py serves the
    starter GGUF's real bytes under a catalog entry's file name on 127.0.0.1."""
    from pathlib import Path

    from desktop.library.catalog import load_catalog
    from tests.hub_server import HubServer

    entry = next(e for e in load_catalog() if e.role == "llm" and e.repo and len(e.files) == 1)
    home = tmp_path / "home"
    with HubServer() as hub:
        hub.add(entry.repo, entry.files[0], Path(starter["llm"]))
        env = {"PARLEY_HOME": str(home), "HF_ENDPOINT": hub.url}
        done = run_parley("models", "download", entry.id, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "100%" in done.stderr and "verified" in done.stdout
        listed = run_parley("models", "list", env=env)
        row = next(line for line in listed.stdout.splitlines() if line.startswith(entry.id))
        assert row.rstrip().endswith("installed")
        done = run_parley("models", "default", entry.id, env=env)
        assert done.returncode == 0, done.stderr
        assert run_parley("models", "verify", env=env).returncode == 0
        stored = home / "data" / "models" / entry.id / Path(entry.files[0]).name
        with stored.open("r+b") as f:  # damage one byte after the header
            f.seek(1_000_000)
            byte = f.read(1)
            f.seek(1_000_000)
            f.write(bytes([byte[0] ^ 0xFF]))
        bad = run_parley("models", "verify", env=env)
        assert bad.returncode == 1 and "sha256" in bad.stdout
        assert run_parley("models", "remove", entry.id, env=env).returncode == 0
        assert not stored.exists()


def test_recommend_proposes_one_model_per_role():
    done = run_parley("models", "recommend")
    assert done.returncode == 0, done.stderr
    for kind in ("chat", "speech-to-text", "voice"):
        assert kind in done.stdout
