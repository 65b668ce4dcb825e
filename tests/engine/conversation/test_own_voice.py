"""Parley recognises scraps of its own recent reply coming back as echo."""

from desktop.engine.conversation.own_voice import OwnVoice


def test_scraps_of_its_own_reply_are_recognised():
    memory = OwnVoice()
    memory.said("The tallest mountain in the world is Everest.")
    assert memory.heard_again("The tallest mountain")
    assert memory.heard_again("mountain in the world.")


def test_new_questions_are_not():
    memory = OwnVoice()
    memory.said("The tallest mountain in the world is Everest.")
    assert not memory.heard_again("How many legs does a spider have?")
    assert not memory.heard_again("Stop.")


def test_a_question_sharing_common_words_with_a_long_reply_is_not_an_echo():
    # Seen on the live barge-in test: a bag-of-words rule took this question
    # for an echo of the story it interrupted.
    memory = OwnVoice()
    memory.said("Once upon a time a dragon asked how many friends does a knight have,")
    memory.said("and the knight said many, because a dragon does not have legs to run.")
    assert not memory.heard_again("How many legs does a spider have?")


def test_old_words_are_forgotten():
    memory = OwnVoice(window_s=0.0)
    memory.said("The tallest mountain in the world is Everest.")
    assert not memory.heard_again("The tallest mountain")


def test_nothing_said_means_nothing_recognised():
    assert not OwnVoice().heard_again("The tallest mountain")
