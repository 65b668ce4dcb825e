"""Conversation history: saved turn by turn in SQLite, listed, searched, exported."""
