"""The one text normalisation shared by training and serving."""

import pytest

from components.text import TextSettings, clean_text, join_fields, lstm_text, prepare, tokenize


def test_clean_text_normalises_case_accents_urls_html_and_whitespace():
    raw = "  Héllo <b>WORLD</b>!!!  see https://evil.example/x or mail a@b.co \t now\n"
    assert clean_text(raw) == "hello world! see or mail now"


def test_clean_text_keeps_sentence_punctuation_for_the_transformer():
    assert clean_text("How do I kill a process?") == "how do i kill a process?"
    assert clean_text("It’s fine.") == "it's fine."


def test_clean_text_rejects_non_strings():
    with pytest.raises(TypeError, match="expected str"):
        clean_text(None)


def test_lstm_text_drops_stopwords_and_stems():
    assert lstm_text("How are the attackers planning their attacks?") == "attack plan attack"


def test_lstm_text_respects_settings():
    settings = TextSettings(remove_stopwords=False, stem=False)
    assert lstm_text("The attackers attacked", settings) == "the attackers attacked"


def test_join_fields_skips_missing_and_blank_values():
    assert join_fields(["a question?", float("nan"), "  ", None, "a picture"]) == "a question?. a picture"


def test_settings_round_trip_through_dict():
    s = TextSettings(text_columns=("q",), stem=False)
    assert TextSettings.from_dict(s.to_dict()) == s
    # unknown keys from a newer version are ignored, not fatal
    assert TextSettings.from_dict({**s.to_dict(), "future": 1}) == s


def test_prepare_matches_training_fields():
    texts = ["Kill the Process NOW!"]
    assert prepare(texts, TextSettings(), for_lstm=False) == [clean_text(texts[0])]
    assert prepare(texts, TextSettings(), for_lstm=True) == [lstm_text(texts[0])]


def test_tokenize_keeps_contractions():
    assert tokenize("it's a test, ok?") == ["it's", "a", "test", "ok"]
