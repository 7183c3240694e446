"""`eventyard demo`: a signed order through the whole yard, narrated from what really happens."""
