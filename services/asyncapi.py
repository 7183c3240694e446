"""One AsyncAPI 3.0 document for the whole yard: channels, messages and their contract schemas."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from contracts.base import DROP, Contract
from contracts.envelope import CONTENT_TYPE, MAX_ID, MAX_SOURCE, MAX_SUBJECT, PRINTABLE
from contracts.export import schema_of
from contracts.registry import CONTRACTS, UnknownContractError, lookup_key
from services.yard import SERVICES
from shared.topology import EVENTS_EXCHANGE, INTAKE_QUEUE, Topology
from shared.version import eventyard_version

SCHEMA_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=name)}


def _message_name(contract: type[Contract]) -> str:
    return contract.key().replace(".", "_")


def _envelope_schema(contract: type[Contract]) -> dict[str, Any]:
    """The CloudEvent carrying this contract, as JSON Schema."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "dataschema", "data"],
        "additionalProperties": False,
        "properties": {
            "specversion": {"const": "1.0"},
            "id": _text(MAX_ID),
            "source": _text(MAX_SOURCE),
            "type": (
                {"type": "string", "pattern": f"^{contract.TYPE.replace('.', '[.]')}[.].+$"}
                if contract.FAMILY
                else {"const": contract.TYPE}
            ),
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": contract.dataschema()},
            "subject": _text(MAX_SUBJECT),
            "correlationid": _text(MAX_ID),
            "causationid": _text(MAX_ID),
            "data": _ref(contract.__name__),
        },
    }


def _text(longest: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": longest, "pattern": PRINTABLE}


def _components() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(c, "validation") for c in CONTRACTS], ref_template=SCHEMA_REF
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    messages = {}
    for contract in CONTRACTS:
        envelope = f"{contract.__name__}Event"
        schemas[envelope] = _envelope_schema(contract)
        examples = schema_of(contract).get("examples", [])
        messages[_message_name(contract)] = {
            "name": contract.key(),
            "title": contract.key(),
            "summary": (contract.__doc__ or "").strip().splitlines()[0],
            "description": f"Produced by: {contract.PRODUCERS} ({contract.PRODUCERS.why}).",
            "x-eventyard-producers": sorted(contract.PRODUCERS.names),
            "contentType": CONTENT_TYPE,
            "payload": _ref(envelope),
            "examples": [
                {"name": f"example{i + 1}", "payload": {"type": contract.TYPE, "data": e}}
                for i, e in enumerate(examples)
            ],
        }
    return {"schemas": schemas, "messages": messages}


def _contract_for(routing_key: str) -> type[Contract] | None:
    try:
        return lookup_key(routing_key)
    except (ValueError, UnknownContractError):
        return None


def document(topology: Topology) -> dict[str, Any]:
    """The AsyncAPI document: a channel per routing key, operations per service."""
    exchange = {"name": EVENTS_EXCHANGE, "type": "topic", "durable": True, "autoDelete": False}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel_for(contract: type[Contract]) -> str:
        name = contract.key().replace(".", "_")
        channels.setdefault(
            name,
            {
                "address": contract.key() + (".{source}" if contract.FAMILY else ""),
                "description": f"`{contract.key()}` events on the `events` topic exchange.",
                "messages": {"event": {"$ref": f"#/components/messages/{_message_name(contract)}"}},
                "bindings": {"amqp": {"is": "routingKey", "exchange": exchange}},
                **(
                    {"parameters": {"source": {"description": "the webhook source's name"}}}
                    if contract.FAMILY
                    else {}
                ),
            },
        )
        return name

    for definition in SERVICES.values():
        for contract in definition.emits:
            channel = channel_for(contract)
            operations[f"{definition.name}_sends_{channel}"] = {
                "action": "send",
                "summary": f"{definition.name}: {definition.summary}",
                "channel": {"$ref": f"#/channels/{channel}"},
            }
    for queue in topology.queues:
        for key in queue.bindings:
            bound = _contract_for(key)
            if bound is None:
                continue
            channel = channel_for(bound)
            operations[f"{queue.name.replace('.', '_')}_receives_{channel}"] = {
                "action": "receive",
                "summary": f"queue `{queue.name}` ({queue.service or 'consumer'})",
                "channel": {"$ref": f"#/channels/{channel}"},
            }
    channels["intake_queue"] = {
        "address": INTAKE_QUEUE,
        "description": "Producers drop a CloudEvent, or a bare payload with AMQP `type` = "
        "TYPE.vN, into this queue through the `intake` fanout exchange (or the default "
        "exchange); intake validates and routes it. Only the contracts listed here are "
        "accepted at this door; any other is parked.",
        "messages": {
            _message_name(c): {"$ref": f"#/components/messages/{_message_name(c)}"}
            for c in CONTRACTS
            if c.PRODUCERS.allow(DROP)
        },
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": INTAKE_QUEUE,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                },
            }
        },
    }
    operations["intake_receives_dropped_messages"] = {
        "action": "receive",
        "summary": "intake validates dropped messages and republishes them to `events`",
        "channel": {"$ref": "#/channels/intake_queue"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eventyard",
            "version": eventyard_version(),
            "description": "Every event the yard's services publish and consume, as CloudEvents "
            "1.0 in structured JSON mode on the `events` topic exchange (routing key "
            "`<type>.v<N>`).",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": _components(),
    }
