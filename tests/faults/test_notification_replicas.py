"""Two ``baton serve`` replicas on one PostgreSQL database, with an email and a webhook
notification entry: escalations arrive over both replicas, both notifiers drain the same
outbox, and each event is emailed once and posted to the webhook once."""

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.bot.conftest import eventually
from tests.conftest import SMTP_PASSWORD, fresh_pg_database
from tests.faults.stack import create_as_a_platform_does, new_escalation, running_stack
from tests.receiver import Receiver
from tests.smtp_server import SmtpTestServer, make_certificate

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

ESCALATIONS = 40
SMTP_USER = "baton"
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _notifications(smtp: SmtpTestServer, ca_file: Path, hook_url: str) -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {smtp.port}
username = "{SMTP_USER}"
from = "Baton <baton@acme.example>"
ca_file = {json.dumps(str(ca_file))}

[[notifications]]
kind = "email"
to = ["leads@acme.example"]
events = ["escalation.created"]

[[notifications]]
kind = "webhook"
url = "{hook_url}"
secret = "{HOOK_SECRET}"
events = ["escalation.created"]
"""


async def test_two_replicas_notify_each_event_once(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    smtp = SmtpTestServer(certificate, username=SMTP_USER, password=SMTP_PASSWORD).start()
    hooks = Receiver(secret=HOOK_SECRET).start()
    try:
        with (
            fresh_pg_database("notify") as database_url,
            running_stack(
                tmp_path,
                database_url,
                more_config=_notifications(smtp, certificate.ca_file, hooks.url),
                more_env={"BATON_SMTP_PASSWORD": SMTP_PASSWORD},
            ) as stack,
        ):
            replicas = stack.start_replicas("one", "two")
            apis = [stack.api(r, connections=8) for r in replicas]
            try:
                created = await asyncio.gather(
                    *(
                        create_as_a_platform_does(apis[n % 2], new_escalation(n), f"esc-{n}")
                        for n in range(ESCALATIONS)
                    )
                )
            finally:
                await asyncio.gather(*(api.aclose() for api in apis))
            await stack.settled(seconds=90)
            await eventually(
                lambda: len(smtp.messages()) >= ESCALATIONS, seconds=30, what="the emails"
            )
            await asyncio.sleep(1.0)  # a double would have arrived by now
    finally:
        smtp.stop()
        hooks.stop()

    emailed = Counter(
        next(esc for esc in created if esc in m.message.get_body(("plain",)).get_content())
        for m in smtp.messages()
    )
    assert emailed == Counter(created), "each escalation emailed once"
    posted = Counter(r.body["data"]["escalation_id"] for r in hooks.delivered())
    assert posted == Counter(created), "each escalation posted to the webhook once"
    assert len(hooks.unique_ids()) == ESCALATIONS
