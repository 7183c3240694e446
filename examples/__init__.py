"""Examples of services outside the yard that talk to it."""
