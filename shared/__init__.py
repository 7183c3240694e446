"""What every eventyard service shares: settings, topology, messaging, errors, metrics."""
