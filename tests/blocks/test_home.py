"""The App Home and list entries as Block Kit: within Slack's limits whatever the data, and
nothing a customer typed can ping or link."""

import json

from blocks.commands import SHOWN, listing
from blocks.home import ENTRIES_PER_PAGE, MAX_BLOCKS, HomeContent, home_view
from blocks.ids import Action
from blocks.queue_entry import Entry, entry_blocks
from storage.models import Status
from tests.blocks.models import EVIL, escalation


def _full_page(page: int) -> HomeContent:
    link = "https://x.slack.com/archives/C1/p1"
    entries = [("mine", Entry(escalation(id=f"esc_{n}"), link)) for n in range(ENTRIES_PER_PAGE)]
    return HomeContent(
        counts={"mine": 900, "waiting": 900, "teammates": 900}, entries=entries, page=page
    )


def test_a_full_page_stays_under_a_hundred_blocks_and_offers_more() -> None:
    for page in (0, 5):
        view = home_view(_full_page(page)).to_dict()  # to_dict() validates Slack's limits
        assert len(view["blocks"]) <= MAX_BLOCKS
        pages = [
            e for b in view["blocks"] if b.get("block_id") == "home_pages" for e in b["elements"]
        ]
        assert [e["text"]["text"] for e in pages] == (["More"] if page == 0 else ["Back", "More"])


def test_many_customer_channels_fit_one_select_and_the_chosen_one_stays() -> None:
    channels = [f"channel-{n:03d}" for n in range(300)]
    content = HomeContent(
        counts={"mine": 0, "waiting": 0, "teammates": 0},
        entries=[],
        channel="rare-channel",
        channels=channels,
    )
    view = home_view(content).to_dict()
    (filters,) = [b for b in view["blocks"] if b.get("block_id") == "home_filters"]
    channel_select = filters["elements"][1]
    assert len(channel_select["options"]) <= 100
    assert channel_select["initial_option"]["value"] == "rare-channel"


def test_entries_escape_what_customers_wrote_and_fit_long_text() -> None:
    esc = escalation(
        customer={"id": "c", "name": EVIL * 20},
        reason_detail=EVIL * 100,
        channel=EVIL,
        status=Status.queued,
    )
    blocks = [b.to_dict() for b in entry_blocks(Entry(esc))]
    dumped = json.dumps(blocks)
    assert (
        "<!channel>" not in dumped and "<https://evil" not in dumped and "<@U0BOSS>" not in dumped
    )
    assert [e["action_id"] for e in blocks[1]["elements"]] == [Action.TAKE]  # no card: no link


def test_a_listing_shows_ten_and_says_how_many_more() -> None:
    entries = [Entry(escalation(id=f"esc_{n}")) for n in range(SHOWN)]
    message = listing("Waiting", entries, 25, "none")
    assert len(message.blocks) == 1 + 2 * SHOWN + 1
    assert "and 15 more" in json.dumps(message.blocks_as_dicts())
