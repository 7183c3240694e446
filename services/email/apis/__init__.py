"""Adapters for hosted mail APIs: each knows one provider's request shape and error codes.

No provider's name, path or field appears outside its own module here.
"""

from __future__ import annotations

from collections.abc import Callable

from services.email.apis.postmark import PostmarkProvider
from services.email.apis.sendgrid import SendGridProvider
from services.email.base import Provider
from shared.gateway import Gateway

# provider name -> adapter(integration, sender, gateway)
API_ADAPTERS: dict[str, Callable[[str, str, Gateway], Provider]] = {
    SendGridProvider.name: SendGridProvider,
    PostmarkProvider.name: PostmarkProvider,
}
# provider name -> an authenticated, side-effect-free path the health service probes
HEALTH_PATHS: dict[str, str] = {
    SendGridProvider.name: SendGridProvider.health_path,
    PostmarkProvider.name: PostmarkProvider.health_path,
}
