"""The texts of a rerouted card: channels named as a routing rule may name them."""

import pytest

from blocks.rerouting import channel_link, rerouted_line


@pytest.mark.parametrize(
    ("channel", "shown"),
    [
        ("C0BILLING", "<#C0BILLING>"),  # an id: Slack shows the channel's name
        ("G0PRIVATE", "<#G0PRIVATE>"),
        ("billing", "#billing"),  # a name as written in the rule
        ("#billing", "#billing"),
        ("bill<ing>&co", "#bill&lt;ing&gt;&amp;co"),  # never a control sequence
    ],
)
def test_a_channel_is_linked_by_id_and_named_otherwise(channel: str, shown: str) -> None:
    assert channel_link(channel) == shown


def test_the_line_names_the_fix_for_each_answer() -> None:
    assert "`/invite @baton`" in rerouted_line("C0B", "not_in_channel", "baton")
    assert "archived" in rerouted_line("C0B", "is_archived", "baton")
    assert "cannot find that channel" in rerouted_line("C0B", "channel_not_found", "baton")
    assert "&lt;b&gt;" in rerouted_line("C0B", "not_in_channel", "<b>")
