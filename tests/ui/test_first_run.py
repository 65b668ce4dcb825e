"""The first-run page's advice fits how Parley was installed."""

import sys


def test_an_installed_parley_points_to_the_model_manager_not_pip(monkeypatch):
    """The installers' bundle has no Python: pip advice would be a dead end there."""
    from desktop.ui.first_run import starter_step

    assert "pip install" in starter_step()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    step = starter_step()
    assert "Ctrl+M" in step and "pip" not in step
