"""Every Redis key and channel name the server uses, under one namespace.

The namespace lets several deployments (or test runs) share one Redis without seeing each
other's sessions, limits or queues.
"""

from __future__ import annotations

from arq.constants import job_key_prefix


class RedisKeys:
    """Builds namespaced Redis key names."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def session(self, session_hash: str) -> str:
        return f"{self.namespace}:session:{session_hash}"

    def user_sessions(self, user_id: str) -> str:
        return f"{self.namespace}:user-sessions:{user_id}"

    def rate_limit(self, bucket: str, ident: str) -> str:
        return f"{self.namespace}:rate:{bucket}:{ident}"

    def arq_queue(self) -> str:
        return f"{self.namespace}:arq:queue"

    def runs_channel(self, workflow_id: str) -> str:
        return f"{self.namespace}:runs:{workflow_id}"

    def run_seq(self, run_id: str) -> str:
        """Counter of a run's published events (the `seq` of the next one)."""
        return f"{self.namespace}:run-seq:{run_id}"

    def run_text(self, run_id: str) -> str:
        """Text streamed so far by each running node of a run (hash: node id → text)."""
        return f"{self.namespace}:run-text:{run_id}"

    def run_control(self) -> str:
        """Channel on which web processes tell workers to stop a run's running nodes."""
        return f"{self.namespace}:run-control"

    def revocations(self) -> str:
        """Channel on which web processes announce revoked tokens and ended sessions."""
        return f"{self.namespace}:revocations"

    def hook_claim(self, hook_id: str, key_digest: str) -> str:
        """An idempotency key claimed on a hook: "pending:<token>" while its run is being
        started, then the run's id (server/hooks/claims.py)."""
        return f"{self.namespace}:hook-claim:{hook_id}:{key_digest}"

    def arq_job_prefix(self) -> str:
        return job_key_prefix  # arq's own, not namespaced: arq builds job keys itself

    def connections_of_user(self, user_id: str) -> str:
        """Open WebSockets of a user on every web process (sorted set, see connection_limits)."""
        return f"{self.namespace}:ws-user:{user_id}"

    def connections_of_workflow(self, workflow_id: str) -> str:
        return f"{self.namespace}:ws-workflow:{workflow_id}"

    def collab_prefix(self) -> str:
        return f"{self.namespace}:collab"

    def pattern(self) -> str:
        """Glob matching every key of this namespace."""
        return f"{self.namespace}:*"
