"""The customer-facing texts (created, taken, returned, closed) as Jinja2 templates.

English and Vietnamese defaults ship in ``blocks/templates/customer/<locale>/``. An operator
overrides them per platform, per customer locale, or both; a text is looked up from the most
specific override to the least, then the defaults for the locale, then English.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

KINDS = ("created", "taken", "returned", "closed")
DEFAULT_LOCALE = "en"
_TEMPLATES = Path(__file__).parent / "templates" / "customer"

log = logging.getLogger("baton.templates")

# What each text may use, with values to try an override out at start-up: first a typical
# escalation (a text that fails for it would fail for nearly every one, and is refused), then
# the customers and agents real platforms send (one without a name, no locale, long names,
# right-to-left script), for which a text that fails is reported and then falls back.
_SAMPLE_CUSTOMER = {
    "id": "cust_1",
    "name": "Nguyen Van A",
    "email": "a@example.com",
    "avatar_url": "https://example.com/a.png",
    "locale": "vi",
}
_SAMPLE_AGENT = {"id": "U0AGENT", "name": "Minh"}
_LONG_NAME = ("Nguyễn Thị Minh Khai " * 48)[:1_000]


@dataclass(frozen=True)
class Sample:
    label: str
    customer: dict[str, Any] = field(default_factory=lambda: dict(_SAMPLE_CUSTOMER))
    agent: dict[str, Any] = field(default_factory=lambda: dict(_SAMPLE_AGENT))
    wait_minutes: int = 5
    resolution: str = "resolved"

    def variables(self, kind: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KIND_VARIABLES[kind]}


SAMPLES = (
    Sample("a typical escalation"),
    Sample("a customer without a name", customer={**_SAMPLE_CUSTOMER, "name": None}),
    Sample("a customer whose name is empty", customer={**_SAMPLE_CUSTOMER, "name": ""}),
    Sample("a customer without a locale", customer={**_SAMPLE_CUSTOMER, "locale": None}),
    Sample(
        "a customer with every field empty",
        customer=dict.fromkeys(_SAMPLE_CUSTOMER),
        wait_minutes=1,
        resolution="no_response",
    ),
    Sample(
        "long names",
        customer={**_SAMPLE_CUSTOMER, "name": _LONG_NAME, "email": "a" * 200 + "@example.com"},
        agent={"id": "U0AGENT", "name": _LONG_NAME[:255]},
        wait_minutes=1_440,
        resolution="customer_satisfied",
    ),
    Sample(
        "a right-to-left name",
        customer={**_SAMPLE_CUSTOMER, "name": "محمد بن عبد الله", "locale": "ar"},
        agent={"id": "U0AGENT", "name": "נועה 🌸"},
        resolution="other",
    ),
    Sample("a name of one emoji", customer={**_SAMPLE_CUSTOMER, "name": "🦊"}),
)
KIND_VARIABLES: dict[str, tuple[str, ...]] = {
    "created": ("customer", "wait_minutes"),
    "taken": ("customer", "agent"),
    "returned": ("customer", "agent"),
    "closed": ("customer", "agent", "resolution"),
}


class TemplateProblem(ValueError):
    pass


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _failure(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Checked:
    template: Template
    # For which sample escalations the text fails (they get the shipped default).
    fails_for: tuple[str, ...] = ()


def compile_checked(source: str, where: str, kind: str) -> Checked:
    """Compile a template and render it with every sample; raise naming ``where`` when it
    fails for a typical escalation (a variable the text cannot have, say)."""
    try:
        template = _environment().from_string(source)
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {exc}") from exc
    fails_for = []
    for sample in SAMPLES:
        try:
            template.render(**sample.variables(kind))
        except Exception as exc:  # a template can raise anything its expressions do
            if sample is SAMPLES[0]:
                raise TemplateProblem(f"{where}: {_failure(exc)}") from exc
            fails_for.append(f"{sample.label} ({_failure(exc)})")
    return Checked(template, tuple(fails_for))


@dataclass(frozen=True)
class TemplateKey:
    platform: str | None
    locale: str | None


@dataclass
class CustomerTexts:
    """Renders customer texts; ``overrides`` maps (platform, locale) to {kind: template}.

    An override that fails for one escalation gives way to the shipped default text, and
    its failure is logged once per template, however many escalations it fails for.
    """

    overrides: Mapping[TemplateKey, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._compiled: dict[tuple[TemplateKey, str], tuple[str, Template]] = {}
        self.warnings: list[str] = []
        self._reported: set[str] = set()
        for key, kinds in self.overrides.items():
            for kind, source in kinds.items():
                where = _describe(key, kind)
                if kind not in KINDS:
                    raise TemplateProblem(f"{where}: unknown text (expected one of {KINDS})")
                checked = compile_checked(source, where, kind)
                self._compiled[(key, kind)] = (where, checked.template)
                if checked.fails_for:
                    self.warnings.append(
                        f"{where} fails for {'; for '.join(checked.fails_for)}: those"
                        " customers get the shipped default text instead"
                    )
        self._defaults: dict[tuple[str, str], Template] = {}
        for locale_dir in sorted(_TEMPLATES.iterdir()):
            for kind in KINDS:
                path = locale_dir / f"{kind}.j2"
                checked = compile_checked(path.read_text(encoding="utf-8"), str(path), kind)
                if checked.fails_for:  # the shipped texts must hold for everyone
                    raise TemplateProblem(f"{path} fails for {'; '.join(checked.fails_for)}")
                self._defaults[(locale_dir.name, kind)] = checked.template

    def render(
        self, kind: str, *, platform: str, locale: str | None, variables: dict[str, Any]
    ) -> str:
        override = self._override(kind, platform, locale)
        if override is not None:
            where, template = override
            try:
                return template.render(**variables).strip()
            except Exception as exc:  # never let an operator's text stop a transition
                self._report(where, exc)
        return self._default(kind, locale).render(**variables).strip()

    def _report(self, where: str, exc: Exception) -> None:
        if where in self._reported:
            return
        self._reported.add(where)
        log.warning(
            "%s could not be rendered (%s); the shipped default text was sent instead."
            " Logged once per template until restart: fix it in the configuration file",
            where,
            _failure(exc),
        )

    def _override(
        self, kind: str, platform: str, locale: str | None
    ) -> tuple[str, Template] | None:
        locales = _locale_chain(locale)
        for key in (
            *(TemplateKey(platform, loc) for loc in locales),
            TemplateKey(platform, None),
            *(TemplateKey(None, loc) for loc in locales),
            TemplateKey(None, None),
        ):
            found = self._compiled.get((key, kind))
            if found is not None:
                return found
        return None

    def _default(self, kind: str, locale: str | None) -> Template:
        for loc in (*_locale_chain(locale), DEFAULT_LOCALE):
            found = self._defaults.get((loc, kind))
            if found is not None:
                return found
        raise KeyError(kind)


def _locale_chain(locale: str | None) -> list[str]:
    """``vi-VN`` → ``["vi-vn", "vi"]``."""
    if not locale:
        return []
    lowered = locale.lower().replace("_", "-")
    base = lowered.split("-", 1)[0]
    return [lowered] if base == lowered else [lowered, base]


def _describe(key: TemplateKey, kind: str) -> str:
    parts = ["templates"]
    if key.platform is not None:
        parts += ["platform", key.platform]
    if key.locale is not None:
        parts.append(key.locale)
    return ".".join([*parts, kind])
