"""Sources are checked at start-up: a name or secret that could never work stops intake."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.intake.sources import Source, load_source
from shared.config import SourceConfig, load_integrations
from shared.errors import ConfigError
from tests.support import signing
from tests.unit.test_intake_fuzz import RecordingRouter, app_for, post

GOOD_SECRET = "whsec_" + base64.b64encode(b"sources-secret-0123456789").decode()


def shop(**overrides: object) -> SourceConfig:
    return SourceConfig.model_validate(
        {"scheme": "standard-webhooks", "secrets": ["SHOP_SECRET"], **overrides}
    )


@pytest.mark.parametrize("name", ["café", "straße", "\ufb01le", "\uff53\uff48\uff4f\uff50"])
def test_a_non_ascii_source_name_is_refused_when_the_file_loads(tmp_path: Path, name: str) -> None:
    path = tmp_path / "eventyard.toml"
    path.write_text(
        f'[sources."{name}"]\nscheme = "github"\nsecrets = ["GH_SECRET"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="lower-case ASCII letters"):
        load_integrations(path)


@pytest.mark.parametrize(
    "value", ["not base64 at all!", "whsec_%%%%", "whsec_", "whsec_ünïcode", "   "]
)
def test_an_unusable_standard_webhooks_secret_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SHOP_SECRET", value)
    with pytest.raises(ConfigError) as caught:
        load_source("shop", shop())
    assert "SHOP_SECRET" in str(caught.value)
    assert "'shop'" in str(caught.value)
    if secret_part := value.removeprefix("whsec_").strip():
        assert secret_part not in str(caught.value)


def test_the_older_secret_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_SECRET", GOOD_SECRET)
    monkeypatch.setenv("SHOP_SECRET_PREVIOUS", "whsec_not*base64")
    with pytest.raises(ConfigError, match="SHOP_SECRET_PREVIOUS"):
        load_source("shop", shop(secrets=["SHOP_SECRET", "SHOP_SECRET_PREVIOUS"]))


def test_a_blank_secret_stops_start_up_for_every_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_SECRET", "  \t ")
    with pytest.raises(ConfigError, match="GH_SECRET"):
        load_source("gh", SourceConfig(scheme="github", secrets=["GH_SECRET"]))


@pytest.mark.parametrize("name", ["café", "x" * 101])
def test_a_name_no_event_can_carry_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("SHOP_SECRET", GOOD_SECRET)
    with pytest.raises(ConfigError, match="cannot name its events"):
        load_source(name, shop())


def test_usable_secrets_load_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = base64.b64encode(b"older-secret-0123456789").decode().rstrip("=")
    monkeypatch.setenv("SHOP_SECRET", GOOD_SECRET)
    monkeypatch.setenv("SHOP_SECRET_PREVIOUS", bare)
    config = shop(secrets=["SHOP_SECRET", "SHOP_SECRET_PREVIOUS"])
    assert load_source("shop", config) == Source("shop", config, (GOOD_SECRET, bare))


def test_an_event_that_cannot_be_built_is_a_400_not_a_500() -> None:
    # A source that slipped past the start-up check: the delivery is refused, not crashed on.
    router = RecordingRouter()
    config = SourceConfig(scheme="standard-webhooks", secrets=["S"])
    app = app_for(router, {"café": Source("café", config, (GOOD_SECRET,))})
    body = b'{"type": "order.paid"}'
    headers = signing.standard_webhooks(GOOD_SECRET, body, "msg_cafe")
    answer = post(app, "/webhooks/caf%C3%A9", body, headers)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("not a valid event: ")
    assert router.published == []
