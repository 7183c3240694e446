"""Versioned event contracts and the CloudEvents envelope they travel in."""

from contracts.analytics import AnalyticsTrackedV1
from contracts.base import Contract
from contracts.deliveries import DeliveryFailedV1, DeliverySucceededV1
from contracts.emails import EmailFailedV1, EmailRequestedV1, EmailSentV1
from contracts.envelope import CONTENT_TYPE, CloudEvent, new_event_id, utc_now
from contracts.integrations import IntegrationHealthChangedV1
from contracts.orders import (
    OrderConfirmationRequestedV1,
    OrderCreatedV1,
    OrderCrmSyncedV1,
    OrderWarehouseNotifiedV1,
)
from contracts.registry import CONTRACTS, UnknownContractError, lookup, lookup_key
from contracts.users import UserAuthenticatedV1
from contracts.webhooks import WebhookReceivedV1

__all__ = [
    "CONTENT_TYPE",
    "CONTRACTS",
    "AnalyticsTrackedV1",
    "CloudEvent",
    "Contract",
    "DeliveryFailedV1",
    "DeliverySucceededV1",
    "EmailFailedV1",
    "EmailRequestedV1",
    "EmailSentV1",
    "IntegrationHealthChangedV1",
    "OrderConfirmationRequestedV1",
    "OrderCreatedV1",
    "OrderCrmSyncedV1",
    "OrderWarehouseNotifiedV1",
    "UnknownContractError",
    "UserAuthenticatedV1",
    "WebhookReceivedV1",
    "lookup",
    "lookup_key",
    "new_event_id",
    "utc_now",
]
