"""Redis channel names of the collaboration layer."""

from __future__ import annotations


class CollabKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def document_channel(self, doc_id: str) -> str:
        """Updates, awareness and state-vector exchange of one document between processes."""
        return f"{self.prefix}:doc:{doc_id}"
