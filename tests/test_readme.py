"""The README's column reference is the schema module's, word for word."""

from local.readme import README, with_reference


def test_column_reference_is_generated_from_the_schema() -> None:
    text = README.read_text()
    assert "| event_time | `timestamp` |" in text
    assert with_reference(text) == text, "stale column reference: run `make docs`"
