"""The customer texts on their own: the shipped ones hold for every kind of customer, and an
override that fails for one escalation gives way to the shipped text."""

import pytest

from blocks.texts import KINDS, SAMPLES, CustomerTexts, TemplateKey


@pytest.mark.parametrize("locale", ["en", "vi", "vi-VN", "ar", None])
@pytest.mark.parametrize("kind", KINDS)
def test_the_shipped_texts_render_for_every_sample_customer(kind: str, locale: str | None) -> None:
    texts = CustomerTexts()
    assert texts.warnings == []
    for sample in SAMPLES:
        text = texts.render(kind, platform="acme", locale=locale, variables=sample.variables(kind))
        assert text and "{{" not in text


def test_a_failing_override_gives_way_to_the_shipped_text_of_the_customers_locale() -> None:
    texts = CustomerTexts({TemplateKey(None, None): {"taken": "Hi {{ customer.name.upper() }}"}})
    agent = {"id": "U0MINH", "name": "Minh"}
    for customer, expected in (
        ({"name": "lan"}, "Hi LAN"),
        ({"name": None, "locale": "vi"}, "Chào bạn, mình là Minh."),
        ({"name": None}, "Hi, I'm Minh."),
        ({}, "Hi, I'm Minh."),
    ):
        variables = {"customer": customer, "agent": agent}
        locale = customer.get("locale")
        assert texts.render(
            "taken", platform="acme", locale=locale, variables=variables
        ).startswith(expected)
