"""The timed jobs each process schedules: fixed ids (a restart replaces, never duplicates),
the digest only where it can be posted, nudges only when configured."""

from api.config import parse_config
from api.http.app import build_services, build_timed_jobs
from tests.conftest import make_settings

SLACK = {
    "slack_bot_token": "xoxb-1",
    "slack_signing_secret": "s" * 32,
    "escalation_channel": "C0ESCALATE",
}


def _job_ids(database_url: str, config: dict[str, object], **settings: str) -> set[str]:
    services = build_services(make_settings(database_url, **settings), parse_config(config))
    return {job.id for job in build_timed_jobs(services).get_jobs()}


def test_every_job_with_slack_and_a_managers_channel(database_url: str) -> None:
    assert _job_ids(database_url, {}, **SLACK, managers_channel="C0MANAGERS") == {
        "sla.sweep",
        "owner.nudge",
        "digest.daily",
        "outbox.sweep",
        "idempotency.purge",
        "slack_events.purge",
    }


def test_no_digest_without_a_managers_channel_and_no_nudges_when_off(database_url: str) -> None:
    ids = _job_ids(database_url, {"scheduler": {"inactivity_nudge": "off"}}, **SLACK)
    assert "digest.daily" not in ids and "owner.nudge" not in ids
    assert {"sla.sweep", "outbox.sweep"} <= ids
