"""Character names: capitalised words that do not start a sentence and are not stoplisted."""

from __future__ import annotations

from tinygen.report.names import names_in


def test_names_skip_sentence_starts_quotes_and_stoplist():
    text = 'Then Lily smiled. Tom said, "Look, Mom!" "Hi," Ben said. I saw Dad with Sam.'
    assert names_in(text) == {"Lily", "Ben", "Sam"}
