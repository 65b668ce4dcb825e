"""Entry point: ``python -m desktop`` and the frozen executable."""

import multiprocessing
import sys


def run() -> None:
    multiprocessing.freeze_support()
    multiprocessing.set_start_method("spawn", force=True)
    from desktop.cli import main

    sys.exit(main())


if __name__ == "__main__":
    run()
