"""The attempts log: every delivery and send the yard made, for the story of one message."""
