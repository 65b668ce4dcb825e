"""Clause chunking: speech can start after the first clause, without cutting badly."""

from desktop.engine.speech.clauses import ClauseChunker, speakable


def chunk(text: str, **options) -> list[str]:
    chunker = ClauseChunker(**options)
    clauses = []
    for word in text.split(" "):  # arrive word by word, like tokens
        clauses += chunker.feed(word + " ")
    return clauses + chunker.flush()


def test_first_clause_is_cut_early_at_a_comma():
    clauses = chunk("Paris is the capital, and it is also the largest city in France.")
    assert clauses[0] == "Paris is the capital,"
    assert clauses[1] == "and it is also the largest city in France."


def test_sentences_are_cut_at_their_end():
    clauses = chunk("It is sunny. Take a hat! Do you need anything else?")
    assert clauses == ["It is sunny.", "Take a hat!", "Do you need anything else?"]


def test_abbreviations_initials_and_decimals_do_not_end_a_sentence():
    clauses = chunk("Dr. Smith met J. R. Tolkien at 3.5 p.m. in St. Andrews. Then he left.")
    assert clauses[0] == "Dr. Smith met J. R. Tolkien at 3.5 p.m. in St. Andrews."
    assert clauses[-1] == "Then he left."


def test_later_commas_need_a_longer_clause():
    clauses = chunk("Yes. Red, green, blue and yellow are colours.")
    assert clauses == ["Yes.", "Red, green, blue and yellow are colours."]


def test_a_run_on_reply_is_cut_at_the_word_limit():
    text = " ".join(["word"] * 70)
    clauses = chunk(text, max_words=30)
    assert all(len(clause.split()) <= 30 for clause in clauses)
    assert " ".join(clauses) == text


def test_nothing_is_lost_or_reordered():
    text = "One, two three four. Five six: seven eight nine ten eleven, twelve! Thirteen"
    assert " ".join(chunk(text)) == text


def test_newlines_end_a_clause():
    chunker = ClauseChunker()
    assert chunker.feed("First line\nSecond") == ["First line"]
    assert chunker.flush() == ["Second"]


def test_speakable_drops_markdown_links_and_emoji():
    assert speakable("**Bold** and `code` 🙂 see https://example.org now") == (
        "Bold and code see a link now"
    )
    assert speakable("🙂🎉 ***") == ""
