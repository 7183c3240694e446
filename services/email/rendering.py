"""Render an `email.requested.v1` into subject, text and HTML (autoescaped) with Jinja2."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Literal

import jinja2

from contracts.emails import EmailRequestedV1
from shared.errors import PermanentError

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
Priority = Literal["high", "normal", "low"]


@dataclass(frozen=True)
class RenderedEmail:
    """What the provider sends."""

    to: str
    subject: str
    text: str
    html: str
    priority: Priority = "normal"


class Renderer:
    """Templates `<name>.subject.txt`, `<name>.txt` and `<name>.html` from one folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder or DEFAULT_TEMPLATES),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
        )

    def render(self, request: EmailRequestedV1) -> RenderedEmail:
        """Render, or raise PermanentError naming the missing template or variable."""
        if request.template is None:
            text = request.body or ""
            return RenderedEmail(
                request.to,
                request.subject or "",
                text,
                f"<pre>{escape(text)}</pre>",
                request.priority,
            )
        name = request.template
        return RenderedEmail(
            to=request.to,
            subject=self._one(f"{name}.subject.txt", request).strip(),
            text=self._one(f"{name}.txt", request),
            html=self._one(f"{name}.html", request),
            priority=request.priority,
        )

    def _one(self, file: str, request: EmailRequestedV1) -> str:
        try:
            return self._env.get_template(file).render(request.variables)
        except jinja2.TemplateNotFound as error:
            raise PermanentError(f"template {error.name} not found") from error
        except jinja2.UndefinedError as error:
            raise PermanentError(f"template {file}: {error.message}") from error
        except jinja2.TemplateError as error:
            raise PermanentError(f"template {file} is broken: {error}") from error
