"""Word error rate, as the benchmarks and tests use it."""

from desktop.engine.speech.wer import normalized_words, word_error_rate, word_errors


def test_identical_ignoring_case_punctuation_and_digits():
    assert word_errors("Call my sister at six.", "call my sister at 6") == (0, 5)


def test_substitution_insertion_deletion():
    assert word_errors("the sky is blue", "the sky was blue") == (1, 4)
    assert word_errors("the sky is blue", "the sky is very blue") == (1, 4)
    assert word_errors("the sky is blue", "sky is blue") == (1, 4)


def test_rate_over_several_pairs():
    assert word_error_rate([("a b c d", "a b c d"), ("e f g h", "e x g h")]) == 1 / 8


def test_normalized_words_keeps_contractions():
    assert normalized_words("It's 3 o'clock!") == ["it's", "three", "o'clock"]
