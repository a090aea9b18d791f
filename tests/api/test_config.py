"""The BATON_CONFIG file: what a valid one means, and bad ones refused naming the key."""

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from api.config import ConfigError, load_config, parse_config, parse_duration, parse_rate
from blocks.texts import CustomerTexts, TemplateKey
from storage.models import Priority

# The example of SPEC.md section 7 (one long template line split for the line length).
SPEC_EXAMPLE = """
[api]
rate_limit = "50/s"                   # per API key; "0" = off

[slack]
escalation_channel = "C0ESCALATE"     # same as BATON_ESCALATION_CHANNEL
managers_channel = "C0MANAGERS"       # same as BATON_MANAGERS_CHANNEL
oncall_group = "S0ONCALL"             # user group mentioned when an escalation goes at-risk

[[routing]]                           # first match wins; unmatched → escalation_channel
priority = ["urgent"]                 # any of the listed values; a key left out matches all
customer_channel = ["whatsapp"]
platform = ["acme"]
reason = ["gate_failure"]
slack_channel = "C0URGENT"

[sla]
timezone = "Asia/Ho_Chi_Minh"
at_risk = [0.8]                       # fractions of a target; several allowed
business_hours = { days = ["mon", "tue", "wed", "thu", "fri"], open = "09:00", close = "18:00" }
holidays = ["2026-12-25"]             # leave business_hours out for a 24/7 clock
[sla.targets.urgent]
first_take = "5m"
resolution = "1h"
[sla.targets.high]
first_take = "15m"
resolution = "4h"

[scheduler]
sla_sweep = "15s"
inactivity_nudge = "10m"              # a taken escalation whose owner has not replied

[digest]
time = "09:00"                        # local time in sla.timezone

[templates]
created = "I'm connecting you with a member of our team. Expected wait: about \
{{ wait_minutes }} minutes."
taken = "Hi, I'm {{ agent.name }}. I've reviewed your conversation and I'm here to help."
[templates.vi]                        # per customer locale
taken = "Chào bạn, mình là {{ agent.name }}. Mình đã xem cuộc trò chuyện và sẽ hỗ trợ bạn ngay."
[templates.platform.acme]             # per platform
closed = "Thanks for contacting Acme!"
"""

AGENT = {"customer": {"id": "cust_1", "name": "Lan"}, "agent": {"id": "U1", "name": "Minh"}}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baton.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_spec_example_parses_to_what_it_says(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, SPEC_EXAMPLE))

    assert config.api.rate_limit == 50.0
    assert config.slack.escalation_channel == "C0ESCALATE"
    assert config.slack.managers_channel == "C0MANAGERS"
    assert config.slack.oncall_group == "S0ONCALL"

    (rule,) = config.routing
    assert rule.priority == [Priority.urgent]
    assert rule.customer_channel == ["whatsapp"]
    assert rule.platform == ["acme"]
    assert [str(r) for r in rule.reason or []] == ["gate_failure"]
    assert rule.slack_channel == "C0URGENT"

    sla = config.sla
    assert sla.timezone == "Asia/Ho_Chi_Minh"
    assert sla.at_risk == [0.8]
    assert sla.business_hours is not None
    assert sla.business_hours.days == ["mon", "tue", "wed", "thu", "fri"]
    assert (sla.business_hours.open, sla.business_hours.close) == (time(9), time(18))
    assert sla.holidays == [date(2026, 12, 25)]
    assert sla.targets[Priority.urgent].first_take == timedelta(minutes=5)
    assert sla.targets[Priority.urgent].resolution == timedelta(hours=1)
    assert sla.targets[Priority.high].first_take == timedelta(minutes=15)
    assert sla.targets[Priority.high].resolution == timedelta(hours=4)
    assert Priority.low not in sla.targets

    assert config.scheduler.sla_sweep == timedelta(seconds=15)
    assert config.scheduler.inactivity_nudge == timedelta(minutes=10)
    assert config.digest.time == time(9)

    texts = config.customer_texts()
    assert (
        texts.render("created", platform="other", locale="en", variables={"wait_minutes": 7})
        == "I'm connecting you with a member of our team. Expected wait: about 7 minutes."
    )
    assert texts.render("taken", platform="other", locale="vi", variables=AGENT).startswith(
        "Chào bạn, mình là Minh."
    )
    assert texts.render("taken", platform="other", locale="en", variables=AGENT).startswith(
        "Hi, I'm Minh."
    )
    for locale in ("en", "vi", None):
        closed = texts.render("closed", platform="acme", locale=locale, variables=AGENT)
        assert closed == "Thanks for contacting Acme!"


def test_an_empty_file_and_no_file_give_the_defaults(tmp_path: Path) -> None:
    for config in (load_config(_write(tmp_path, "")), load_config(None)):
        assert config.api.rate_limit == 50.0
        assert config.routing == []
        assert config.sla.timezone == "UTC"
        assert config.sla.at_risk == [0.8]
        assert config.sla.business_hours is None
        assert config.scheduler.sla_sweep == timedelta(seconds=15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("1d", timedelta(days=1)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations(tmp_path: Path, text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    config = load_config(_write(tmp_path, f'[scheduler]\ninactivity_nudge = "{text}"\n'))
    assert config.scheduler.inactivity_nudge == expected


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("26214400", 26_214_400),
        ('"500KB"', 500_000),
        ('"25MiB"', 25 * 1024**2),
        ('"1.5 GiB"', 1536 * 1024**2),
    ],
)
def test_file_sizes(tmp_path: Path, text: str, size: int) -> None:
    assert load_config(_write(tmp_path, f"[files]\nmax_bytes = {text}\n")).files.max_bytes == size


def test_files_and_auto_close_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, ""))
    assert config.files.max_bytes == 25 * 1024**2
    assert config.files.url_ttl == timedelta(hours=24)
    assert config.lifecycle.auto_close_after is None


def test_owner_nudges_can_be_turned_off(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, '[scheduler]\ninactivity_nudge = "off"\n'))
    assert config.scheduler.inactivity_nudge is None


@pytest.mark.parametrize("text", ["soon", "15", "0s", "-5m", "5 minutes", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("50/s", 50.0), ("3000/m", 50.0), ("7200/h", 2.0), ("0", 0.0)],
)
def test_rates(tmp_path: Path, text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second
    config = load_config(_write(tmp_path, f'[api]\nrate_limit = "{text}"\n'))
    assert config.api.rate_limit == per_second


def test_database_settings(tmp_path: Path) -> None:
    text = '[database]\npool_size = 4\nmax_overflow = 0\nconnect_timeout = "3s"\n'
    database = load_config(_write(tmp_path, text)).database
    assert (database.pool_size, database.max_overflow) == (4, 0)
    assert database.connect_timeout == timedelta(seconds=3)


@pytest.mark.parametrize("text", ["fast", "50", "-1/s", "50/day"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


SMTP = '[smtp]\nhost = "smtp.acme.example"\nfrom = "Baton <baton@acme.example>"\n'
EMAIL = (
    '[[notifications]]\nkind = "email"\nto = ["leads@acme.example"]\nevents = ["sla.breached"]\n'
)
HOOK = 'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\nevents = ["sla.breached"]\n'
NOTIFICATION_CONFIGS = [
    pytest.param(EMAIL, ["notifications[0]", "[smtp]"], id="email-without-smtp"),
    pytest.param(
        SMTP + EMAIL + EMAIL.replace("sla.breached", "escalation.created"),
        ["notifications[1]", "notifications[0]", "merge"],
        id="two-entries-one-destination",
    ),
    pytest.param(
        SMTP + EMAIL.replace("leads@acme.example", "leads at acme"),
        ["notifications[0].to", "leads at acme"],
        id="not-an-address",
    ),
    pytest.param(
        SMTP + EMAIL.replace('"sla.breached"', '"sla.breachd"'),
        ["notifications[0].events[0]"],
        id="unknown-event",
    ),
    pytest.param(
        SMTP + EMAIL.replace('events = ["sla.breached"]', "events = []"),
        ["notifications[0].events"],
        id="no-events",
    ),
    pytest.param(
        SMTP + EMAIL + 'priority = ["urgnt"]\n', ["notifications[0].priority"], id="bad-priority"
    ),
    pytest.param(SMTP + EMAIL + 'batch = "daily"\n', ["notifications[0].batch"], id="bad-batch"),
    pytest.param(
        '[[notifications]]\nkind = "pager"\nevents = ["sla.breached"]\n',
        ["notifications[0]", "pager"],
        id="unknown-kind",
    ),
    pytest.param(
        '[[notifications]]\nkind = "webhook"\nurl = "ftp://ops.example/h"\n' + HOOK,
        ["notifications[0].url", "https"],
        id="webhook-not-http",
    ),
    pytest.param(
        '[[notifications]]\nkind = "webhook"\nurl = "https://ops.example/h"\n'
        'events = ["sla.breached"]\n',
        ["notifications[0]", "secret_env"],
        id="webhook-without-secret",
    ),
    pytest.param(
        '[[notifications]]\nkind = "webhook"\nurl = "https://ops.example/h"\n'
        'secret = "hunter2"\nevents = ["sla.breached"]\n',
        ["notifications[0]", "whsec_"],
        id="webhook-secret-not-a-secret",
    ),
    pytest.param(
        '[[notifications]]\nkind = "webhook"\nurl = "https://ops.example/h"\n'
        'secret_env = "BATON_TEST_UNSET_HOOK_SECRET"\nevents = ["sla.breached"]\n',
        ["notifications[0]", "BATON_TEST_UNSET_HOOK_SECRET is not set"],
        id="webhook-secret-env-unset",
    ),
    pytest.param(
        '[[notifications]]\nkind = "slack"\nevents = ["sla.breached"]\n',
        ["notifications[0]", "channel"],
        id="slack-nowhere",
    ),
    pytest.param(
        '[[notifications]]\nkind = "slack"\nmention = "everyone"\nevents = ["sla.breached"]\n',
        ["notifications[0].mention", "everyone"],
        id="slack-bad-mention",
    ),
    pytest.param(
        '[[notifications]]\nkind = "slack"\nchannel = "#leads"\nevents = ["sla.breached"]\n',
        ["notifications[0].channel", "#leads"],
        id="slack-channel-name",
    ),
    pytest.param(
        SMTP.replace('from = "Baton <baton@acme.example>"\n', "") + EMAIL,
        ["smtp.from"],
        id="smtp-without-from",
    ),
    pytest.param(SMTP + "tls = true\nstarttls = true\n", ["smtp", "exclude"], id="smtp-two-tls"),
    pytest.param(SMTP + "port = 0\n", ["smtp.port"], id="smtp-port-0"),
    pytest.param(
        SMTP + EMAIL + '[templates.email]\nsubject = "{{ nope }}"\n',
        ["templates.email.subject", "nope"],
        id="email-template-unknown-variable",
    ),
]


BAD_CONFIGS = [
    pytest.param('colour = "blue"\n', ["colour", "unknown key"], id="unknown-top-level-key"),
    pytest.param("[api]\nburst = 100\n", ["api.burst", "unknown key"], id="unknown-api-key"),
    pytest.param('[api]\nrate_limit = "fast"\n', ["api.rate_limit"], id="bad-rate"),
    pytest.param(
        '[api]\ndefault_priority = "asap"\n', ["api.default_priority"], id="bad-default-priority"
    ),
    pytest.param("[database]\npool_size = 0\n", ["database.pool_size"], id="empty-pool"),
    pytest.param("[database]\nmax_overflow = -1\n", ["database.max_overflow"], id="neg-overflow"),
    pytest.param(
        '[database]\nconnect_timeout = "soon"\n', ["database.connect_timeout"], id="bad-timeout"
    ),
    pytest.param("[database]\npool = 5\n", ["database.pool", "unknown key"], id="unknown-db-key"),
    pytest.param('[slack]\nchannel = "C1"\n', ["slack.channel", "unknown key"], id="slack-key"),
    pytest.param(
        '[sla.targets.urgnt]\nfirst_take = "5m"\n', ["sla.targets.urgnt"], id="unknown-priority"
    ),
    pytest.param(
        '[sla.targets.high]\nfirst_take = "soon"\n',
        ["sla.targets.high.first_take", "soon"],
        id="bad-duration",
    ),
    pytest.param(
        '[sla.targets.high]\nfirst_tak = "5m"\n',
        ["sla.targets.high.first_tak", "unknown key"],
        id="misspelt-target",
    ),
    pytest.param(
        '[sla]\ntimezone = "Mars/Olympus"\n', ["sla.timezone", "Mars/Olympus"], id="timezone"
    ),
    pytest.param(
        '[sla]\nbusiness_hours = { open = "18:00", close = "09:00" }\n',
        ["sla.business_hours", "open"],
        id="open-after-close",
    ),
    pytest.param(
        '[sla]\nbusiness_hours = { days = ["mon", "funday"] }\n',
        ["sla.business_hours.days", "funday"],
        id="unknown-weekday",
    ),
    pytest.param("[sla]\nat_risk = [1.5]\n", ["sla.at_risk"], id="at-risk-above-one"),
    pytest.param("[sla]\nat_risk = [0]\n", ["sla.at_risk"], id="at-risk-zero"),
    pytest.param(
        '[scheduler]\nsla_sweep = "0s"\n', ["scheduler.sla_sweep", "zero"], id="zero-sweep"
    ),
    pytest.param('[digest]\ntime = "25:00"\n', ["digest.time"], id="bad-digest-time"),
    pytest.param(
        '[scheduler]\ninactivity_nudge = "never"\n',
        ["scheduler.inactivity_nudge", "never"],
        id="bad-nudge",
    ),
    pytest.param(
        '[files]\nmax_bytes = "25 potatoes"\n', ["files.max_bytes", "potatoes"], id="bad-size"
    ),
    pytest.param("[files]\nmax_bytes = 0\n", ["files.max_bytes", "more than zero"], id="size-0"),
    pytest.param('[files]\nurl_ttl = "forever"\n', ["files.url_ttl"], id="bad-url-ttl"),
    pytest.param(
        '[lifecycle]\nauto_close_after = "soon"\n',
        ["lifecycle.auto_close_after", "soon"],
        id="bad-auto-close",
    ),
    pytest.param(
        '[[routing]]\npriority = ["urgnt"]\nslack_channel = "C1"\n',
        ["routing[0].priority"],
        id="routing-unknown-priority",
    ),
    pytest.param(
        '[[routing]]\npriority = ["urgent"]\n',
        ["routing[0].slack_channel"],
        id="routing-without-channel",
    ),
    pytest.param(
        '[[routing]]\nslack_channel = "C1"\n'
        '[[routing]]\nreason = ["angry"]\nslack_channel = "C2"\n',
        ["routing[1].reason"],
        id="second-rule-unknown-reason",
    ),
    pytest.param(
        '[templates]\ntaken = "Hi {{ agent.name "\n', ["templates.taken"], id="broken-jinja"
    ),
    pytest.param(
        '[templates]\ntaken = "Hi {{ nope }}"\n',
        ["templates.taken", "nope"],
        id="unknown-variable",
    ),
    pytest.param(
        '[templates]\ngreeting = "x"\n', ["templates.greeting", "unknown key"], id="unknown-kind"
    ),
    pytest.param("[templates]\ntaken = 3\n", ["templates.taken"], id="template-not-a-string"),
    pytest.param(
        '[templates.vi]\ngreeting = "x"\n', ["templates.vi.greeting"], id="unknown-kind-in-locale"
    ),
    pytest.param(
        '[templates.platform.acme.vi]\ntaken = "{{ agent.nmae }}"\n',
        ["templates.platform.acme.vi.taken"],
        id="platform-locale-override",
    ),
    *NOTIFICATION_CONFIGS,
]


@pytest.mark.parametrize(("text", "names"), BAD_CONFIGS)
def test_bad_configs_are_refused_naming_the_key(
    tmp_path: Path, text: str, names: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "[api\nrate_limit = 50/s\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="no such configuration file") as refused:
        load_config(path)
    assert str(path) in str(refused.value)


def test_a_per_platform_per_locale_override_is_accepted_and_used(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path,
            '[templates.platform.acme.vi]\ntaken = "Acme xin chào, mình là {{ agent.name }}."\n'
            '[templates.VI]\nclosed = "Tạm biệt!"\n',
        )
    )
    texts = config.customer_texts()
    assert (
        texts.render("taken", platform="acme", locale="vi", variables=AGENT)
        == "Acme xin chào, mình là Minh."
    )
    assert texts.render("closed", platform="acme", locale="vi", variables=AGENT) == "Tạm biệt!"
    # Another platform, or the same one in English, keeps the shipped texts.
    assert "Acme" not in texts.render("taken", platform="other", locale="vi", variables=AGENT)
    assert texts.render("taken", platform="acme", locale="en", variables=AGENT).startswith(
        "Hi, I'm Minh."
    )


# --- CustomerTexts lookup order (blocks/texts.py) -----------------------------------------


@pytest.fixture
def layered() -> CustomerTexts:
    return CustomerTexts(
        {
            TemplateKey("acme", "vi"): {"taken": "acme+vi {{ agent.name }}"},
            TemplateKey("acme", None): {"taken": "acme {{ agent.name }}"},
            TemplateKey(None, "vi"): {"taken": "vi {{ agent.name }}"},
            TemplateKey(None, None): {"taken": "any {{ agent.name }}"},
        }
    )


@pytest.mark.parametrize(
    ("platform", "locale", "expected"),
    [
        ("acme", "vi", "acme+vi Minh"),
        ("acme", "vi-VN", "acme+vi Minh"),
        ("acme", "vi_VN", "acme+vi Minh"),
        ("acme", "en", "acme Minh"),
        ("acme", None, "acme Minh"),
        ("globex", "vi", "vi Minh"),
        ("globex", "vi-VN", "vi Minh"),
        ("globex", "en", "any Minh"),
        ("globex", None, "any Minh"),
    ],
)
def test_the_most_specific_text_wins(
    layered: CustomerTexts, platform: str, locale: str | None, expected: str
) -> None:
    assert layered.render("taken", platform=platform, locale=locale, variables=AGENT) == expected


def test_texts_without_an_override_fall_back_to_the_shipped_defaults(
    layered: CustomerTexts,
) -> None:
    returned = layered.render("returned", platform="acme", locale="vi", variables=AGENT)
    assert returned.startswith("Cảm ơn bạn đã kiên nhẫn")


@pytest.mark.parametrize("locale", ["vi", "vi-VN", "VI"])
def test_the_shipped_vietnamese_taken_text_names_the_agent(locale: str) -> None:
    text = CustomerTexts().render("taken", platform="acme", locale=locale, variables=AGENT)
    assert "Minh" in text
    assert text.startswith("Chào bạn")


@pytest.mark.parametrize("locale", ["en", "en-GB", "xx", "zz-ZZ", None, ""])
def test_an_unknown_locale_gets_the_english_default(locale: str | None) -> None:
    texts = CustomerTexts()
    assert (
        texts.render("taken", platform="acme", locale=locale, variables=AGENT)
        == "Hi, I'm Minh. I've reviewed your conversation and I'm here to help."
    )
    created = texts.render("created", platform="acme", locale=locale, variables={"wait_minutes": 1})
    assert created.endswith("about 1 minute.")


def test_shipped_defaults_cover_every_text_in_both_languages() -> None:
    texts = CustomerTexts()
    variables = {**AGENT, "wait_minutes": 5, "resolution": "resolved"}
    for kind in ("created", "taken", "returned", "closed"):
        english = texts.render(kind, platform="acme", locale="en", variables=variables)
        vietnamese = texts.render(kind, platform="acme", locale="vi", variables=variables)
        assert english and vietnamese
        assert english != vietnamese
        assert "{{" not in english + vietnamese


@pytest.mark.parametrize(
    ("kind", "template"),
    [
        ("taken", "Hi, I'm {{ agent.name }}; you waited {{ wait_minutes }} minutes"),
        ("created", "{{ agent.name }} will help you"),
        ("returned", "Resolved as {{ resolution }}"),
    ],
)
def test_a_text_using_a_variable_it_never_gets_is_refused_at_start_up(
    kind: str, template: str
) -> None:
    with pytest.raises(ConfigError, match=rf"templates\.{kind}: .* is undefined"):
        parse_config({"templates": {kind: template}})


def test_a_text_may_use_every_customer_field() -> None:
    config = parse_config({"templates": {"created": "Hi {{ customer.email or 'there' }}"}})
    text = config.customer_texts().render(
        "created",
        platform="acme",
        locale=None,
        variables={"customer": {"id": "c", "email": None}, "wait_minutes": 3},
    )
    assert text == "Hi there"
