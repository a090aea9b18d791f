"""What the storage layer refuses, as types the API and Slack each turn into their own words."""


class StorageError(Exception):
    """Base of every refusal; ``str()`` is a sentence fit to show a person."""


class NotFound(StorageError):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident} was not found")
        self.ident = ident


class Conflict(StorageError):
    """Somebody else owns the escalation."""

    def __init__(self, escalation_id: str, owner_id: str, owner_name: str) -> None:
        super().__init__(f"{escalation_id} is already taken by {owner_name}")
        self.owner_id = owner_id
        self.owner_name = owner_name


class InvalidTransition(StorageError):
    def __init__(self, escalation_id: str, action: str, status: str) -> None:
        super().__init__(f"cannot {action} {escalation_id}: it is {status}")
        self.action = action
        self.status = status


class AlreadySent(StorageError):
    """A suggested reply that was sent already (each goes once)."""

    def __init__(self, suggestion_id: str, sent_by: str | None) -> None:
        by = f", by {sent_by}" if sent_by else ""
        super().__init__(f"suggestion {suggestion_id} was sent to the customer already{by}")
        self.sent_by = sent_by


class NotOwner(StorageError):
    """Only the owner may do this (reply, return or close a taken escalation)."""

    def __init__(
        self,
        escalation_id: str,
        action: str,
        owner_name: str | None,
        owner_id: str | None = None,
    ) -> None:
        owner = f"it is owned by {owner_name}" if owner_name else "it has no owner"
        super().__init__(f"only the owner can {action} {escalation_id}; {owner}")
        self.action = action
        self.owner_name = owner_name
        self.owner_id = owner_id


class IdempotencyMismatch(StorageError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")


class IdempotencyInFlight(StorageError):
    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still being processed")
