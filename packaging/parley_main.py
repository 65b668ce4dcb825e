"""The frozen executable's entry point: the same as the ``parley`` command."""

from desktop.__main__ import run

if __name__ == "__main__":
    run()
