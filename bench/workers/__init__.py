"""The processes a comparison starts: each contestant in its own, reporting through `Progress`."""
