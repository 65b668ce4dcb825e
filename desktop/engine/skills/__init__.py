"""What Parley does rather than says: intents answered without the LLM (the time,
timers, reminders, the voice's pace), matched with hassil; timers kept on disk."""
