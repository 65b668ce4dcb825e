"""Conversation: one turn, the live voice loop, the reply begun ahead, Parley's own words."""
