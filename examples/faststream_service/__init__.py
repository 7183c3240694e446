"""A loyalty service written with FastStream and the yard's kit (shared.faststream)."""
