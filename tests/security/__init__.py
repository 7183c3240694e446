"""Tests that each door refuses what an attacker would send (issue 15)."""
