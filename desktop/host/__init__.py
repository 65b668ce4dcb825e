"""Runs the engine in a supervised child process; the window only sees events."""
