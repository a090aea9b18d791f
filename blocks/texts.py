"""The customer-facing texts (created, taken, returned, closed) as Jinja2 templates.

English and Vietnamese defaults ship in ``blocks/templates/customer/<locale>/``. An operator
overrides them per platform, per customer locale, or both; a text is looked up from the most
specific override to the least, then the defaults for the locale, then English.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

KINDS = ("created", "taken", "returned", "closed")
DEFAULT_LOCALE = "en"
_TEMPLATES = Path(__file__).parent / "templates" / "customer"

# What each text may use, with values to try an override out at start-up.
_SAMPLE_CUSTOMER = {
    "id": "cust_1",
    "name": "Nguyen Van A",
    "email": "a@example.com",
    "avatar_url": "https://example.com/a.png",
    "locale": "vi",
}
_SAMPLES: dict[str, Any] = {
    "customer": _SAMPLE_CUSTOMER,
    "agent": {"id": "U0AGENT", "name": "Minh"},
    "wait_minutes": 5,
    "resolution": "resolved",
}
KIND_VARIABLES: dict[str, tuple[str, ...]] = {
    "created": ("customer", "wait_minutes"),
    "taken": ("customer", "agent"),
    "returned": ("customer", "agent"),
    "closed": ("customer", "agent", "resolution"),
}


def sample_variables(kind: str) -> dict[str, Any]:
    return {name: _SAMPLES[name] for name in KIND_VARIABLES[kind]}


class TemplateProblem(ValueError):
    pass


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def compile_checked(source: str, where: str, kind: str) -> Template:
    """Compile a template and render it once with the kind's sample values; raise naming
    ``where`` (a variable the text cannot have is refused here, not at send time)."""
    try:
        template = _environment().from_string(source)
        template.render(**sample_variables(kind))
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {exc}") from exc
    return template


@dataclass(frozen=True)
class TemplateKey:
    platform: str | None
    locale: str | None


@dataclass
class CustomerTexts:
    """Renders customer texts; ``overrides`` maps (platform, locale) to {kind: template}."""

    overrides: Mapping[TemplateKey, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._compiled: dict[tuple[TemplateKey, str], Template] = {}
        for key, kinds in self.overrides.items():
            for kind, source in kinds.items():
                where = _describe(key, kind)
                if kind not in KINDS:
                    raise TemplateProblem(f"{where}: unknown text (expected one of {KINDS})")
                self._compiled[(key, kind)] = compile_checked(source, where, kind)
        self._defaults: dict[tuple[str, str], Template] = {}
        for locale_dir in sorted(_TEMPLATES.iterdir()):
            for kind in KINDS:
                path = locale_dir / f"{kind}.j2"
                self._defaults[(locale_dir.name, kind)] = compile_checked(
                    path.read_text(encoding="utf-8"), str(path), kind
                )

    def render(
        self, kind: str, *, platform: str, locale: str | None, variables: dict[str, Any]
    ) -> str:
        return self._find(kind, platform, locale).render(**variables).strip()

    def _find(self, kind: str, platform: str, locale: str | None) -> Template:
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
        for loc in (*locales, DEFAULT_LOCALE):
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
