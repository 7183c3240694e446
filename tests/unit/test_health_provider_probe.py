"""The health service probes a provider as its adapter declares: an authenticated read on the
API (mail, payments), or the public status page without the key (analytics)."""

from __future__ import annotations

from typing import Any

from services.health.probes import with_provider_probes
from shared.config import IntegrationsFile

ANSWERS = {"capability": "c", "dependency": "d", "on_failure": "f", "criticality": "low"}


def file(provider: str, **mail_api: Any) -> IntegrationsFile:
    return IntegrationsFile.model_validate(
        {
            "email": {"provider": provider, "http_integration": "mail", **ANSWERS},
            "integrations": {
                "mail": {
                    "base_url": "https://api.example.com/",
                    "auth": "bearer",
                    "credentials": ["KEY"],
                    **ANSWERS,
                    **mail_api,
                },
                "crm": {"base_url": "https://crm.example.com", **ANSWERS},
            },
        }
    )


def test_an_adapter_without_a_health_url_is_probed_at_its_declared_read() -> None:
    probed = with_provider_probes(file("sendgrid"))
    assert str(probed["mail"].health_url) == "https://api.example.com/v3/scopes"
    assert probed["crm"].health_url is None
    assert str(with_provider_probes(file("postmark"))["mail"].health_url).endswith("/server")


def test_a_declared_health_url_and_other_providers_are_left_alone() -> None:
    own = with_provider_probes(file("sendgrid", health_url="https://status.example.com/"))
    assert str(own["mail"].health_url) == "https://status.example.com/"
    assert with_provider_probes(file("http"))["mail"].health_url is None


def test_payment_and_analytics_providers_are_probed_as_their_adapters_declare() -> None:
    tables = {
        "pay": {"base_url": "https://api.pay.example/", "auth": "bearer", "credentials": ["K"],
                "payments": "mollie", **ANSWERS},
        "product": {"base_url": "https://api.product.example", "auth": "basic",
                    "credentials": ["WRITE_KEY"], "analytics": "segment", **ANSWERS},
    }  # fmt: skip
    probed = with_provider_probes(IntegrationsFile.model_validate({"integrations": tables}))
    assert str(probed["pay"].health_url) == "https://api.pay.example/v2/methods"
    assert probed["pay"].credentials == ["K"]  # an authenticated read on the API's own host
    status = probed["product"]
    assert str(status.health_url) == "https://status.segment.com/api/v2/status.json"
    # the status page is another host: the write key never goes there
    assert (status.auth, status.credentials) == ("none", [])
