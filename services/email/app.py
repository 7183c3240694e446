"""email: renders and sends `email.requested.v1`."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from services.email.handlers import sender
from services.email.providers import provider_for
from services.email.rendering import Renderer
from shared.config import IntegrationsFile
from shared.consumer import Reported, Step
from shared.service import Runtime, ServiceDefinition, Wiring
from shared.topology import WorkQueue

NAME = "email"
SEND_QUEUE = WorkQueue("email.send", (EmailRequestedV1.key(),), service=NAME)


def queues(_: IntegrationsFile) -> Sequence[WorkQueue]:
    """One step: send."""
    return [SEND_QUEUE]


async def wire(runtime: Runtime) -> Wiring:
    """The send step with the provider the integrations file names."""
    provider = provider_for(runtime.integrations.email, runtime.gateway)
    handler = sender(
        Renderer(runtime.settings.templates_dir),
        provider,
        runtime.redactor,
        len(runtime.topology.delays),
    )
    reported = Reported("email", provider.name)
    return Wiring(steps=[Step(SEND_QUEUE, handler, accepts=(EmailRequestedV1,), reported=reported)])


DEFINITION = ServiceDefinition(
    NAME,
    8002,
    queues,
    wire,
    summary="Renders and sends requested email through SMTP, an HTTP mail API or the console.",
    emits=(EmailSentV1, EmailFailedV1),
)
