"""Speech in and out: whisper transcription, piper synthesis, clauses, word error rate."""
