"""Adapters for hosted mail APIs: each knows one provider's request shape and error codes.

No provider's name, path or field appears outside its own module here.
"""

from __future__ import annotations

from collections.abc import Callable

from services.email.apis.postmark import PostmarkProvider
from services.email.apis.sendgrid import SendGridProvider
from services.email.base import Provider
from shared.gateway import Gateway

_ADAPTERS = (SendGridProvider, PostmarkProvider)
# provider name -> adapter(integration, sender, gateway)
API_ADAPTERS: dict[str, Callable[[str, str, Gateway], Provider]] = {a.name: a for a in _ADAPTERS}
# provider name -> an authenticated, side-effect-free path the health service probes
HEALTH_PATHS: dict[str, str] = {a.name: a.health_path for a in _ADAPTERS}
