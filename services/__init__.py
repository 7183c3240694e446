"""The five eventyard services; each folder is wiring (`app.py`) plus plain handlers."""

# Their names, in the order their ports follow (8000-8004). services/yard.py holds their
# definitions; this tuple lets the command line name them without importing all five.
NAMES = ("intake", "publisher", "email", "order-followup", "health")
