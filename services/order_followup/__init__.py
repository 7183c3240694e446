"""The order-followup service."""
