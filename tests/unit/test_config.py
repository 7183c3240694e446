"""The integrations file: valid files load, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import load_integrations
from shared.errors import ConfigError

GOOD = """
[sources.shop]
scheme = "standard-webhooks"
secrets = ["SHOP_WEBHOOK_SECRET", "SHOP_WEBHOOK_SECRET_PREVIOUS"]
capability = "x"
dependency = "y"
on_failure = "z"
criticality = "low"
[sources.shop.map]
"order.paid" = "order.created.v1"

[destinations.partner]
url = "https://partner.example.com/hooks"
events = ["order.*.v1"]
secrets = ["PARTNER_SIGNING_SECRET"]
capability = "x"
dependency = "y"
on_failure = "z"
criticality = "low"

[integrations.crm]
base_url = "https://crm.example.com/api"
auth = "bearer"
credentials = ["CRM_TOKEN", "CRM_TOKEN_PREVIOUS"]
capability = "customer and order records in the CRM"
dependency = "CRM REST API"
on_failure = "CRM sync waits on the retry ladder"
criticality = "low"

[email]
provider = "smtp"
smtp_port = 1025
capability = "x"
dependency = "y"
on_failure = "z"
criticality = "low"
"""


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "eventyard.toml"
    path.write_text(GOOD)
    loaded = load_integrations(path)
    assert loaded.sources["shop"].tolerance_seconds == 300
    assert loaded.destinations["partner"].policy == "reliable"
    assert loaded.integrations["crm"].missing_answers() == []
    assert set(loaded.secret_names()) == {
        "SHOP_WEBHOOK_SECRET",
        "SHOP_WEBHOOK_SECRET_PREVIOUS",
        "PARTNER_SIGNING_SECRET",
        "CRM_TOKEN",
        "CRM_TOKEN_PREVIOUS",
    }


def test_a_missing_file_means_no_integrations(tmp_path: Path) -> None:
    assert load_integrations(tmp_path / "absent.toml").destinations == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[sources.shop\n", "not valid TOML"),
        ('[sources.shop]\nscheme = "md5"\nsecrets = ["S"]\n', "sources.shop.scheme"),
        ('[destinations.p]\nurl = "https://x"\nevents = ["a.*"]\nretries = 3\n', "retries"),
        ('[destinations.P]\nurl = "https://x"\nevents = ["a.*"]\n', "lower-case"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "eventyard.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=reason):
        load_integrations(path)


def test_a_connection_without_its_four_answers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "eventyard.toml"
    path.write_text(
        '[integrations.crm]\nbase_url = "https://crm.example.com"\ncapability = "records"\n'
        '[email]\nprovider = "console"\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_integrations(path)
    message = str(refused.value)
    assert "integrations.crm: dependency, on_failure, criticality" in message
    assert "email: capability, dependency, on_failure, criticality" in message


def test_the_example_file_answers_every_question() -> None:
    example = Path(__file__).parents[2] / "eventyard.example.toml"
    loaded = load_integrations(example)
    assert loaded.unanswered() == []
    assert {kind for kind, _, _ in loaded.catalogue()} == {
        "source",
        "destination",
        "integration",
        "read",
        "email",
        "oauth",
        "consumer",
    }


READ = """
[integrations.crm.reads.profile]
path = "/customers/{customer_id}"
timeout_seconds = 1.5
fallback = { tier = "standard" }
"""
ANSWERS = """capability = "names the customer"
dependency = "CRM"
on_failure = "stale, else the fallback"
criticality = "low"
"""


def test_a_cached_read_is_a_catalogue_entry_with_its_four_answers(tmp_path: Path) -> None:
    path = tmp_path / "eventyard.toml"
    path.write_text(GOOD + READ + ANSWERS)
    loaded = load_integrations(path)
    read = loaded.integrations["crm"].reads["profile"]
    assert (read.timeout_seconds, read.ttl_seconds, read.fallback) == (
        1.5,
        300,
        {"tier": "standard"},
    )
    assert ("read", "crm.profile", read) in loaded.catalogue()
    path.write_text(GOOD + READ)
    with pytest.raises(ConfigError, match=r"integrations\.crm\.reads\.profile: capability"):
        load_integrations(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('path = "customers/{id}"', "path"),
        ('path = "/customers/{id.name}"', "plain name"),
        ('path = "/customers/{"', "not a path template"),
        ('path = "/c/{id}?x=1"', "path"),
        ('fallback = "nothing"', "fallback"),
        ("timeout_seconds = 0", "timeout_seconds"),
    ],
)
def test_a_wrong_read_is_named(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "eventyard.toml"
    name = line.split(" = ", maxsplit=1)[0]
    lines = [ln for ln in READ.splitlines() if not ln.startswith(f"{name} = ")]
    path.write_text(GOOD + "\n".join([*lines, line]) + "\n" + ANSWERS)
    with pytest.raises(ConfigError, match=problem):
        load_integrations(path)
