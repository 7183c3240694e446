"""The five eventyard services; each folder is wiring (`app.py`) plus plain handlers."""
