"""One short line for each retry of MLflow's client while its tracking server is away, instead
of urllib3's long warning. Imports MLflow's settings only: it runs before TensorFlow loads."""

import logging

from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
)

# urllib3's warning for a retried request (connectionpool.py), and its cap on one wait.
_RETRY_MESSAGE = "Retrying (%r) after connection broken by '%r': %s"
_BACKOFF_MAX_S = 120.0


def explain_http_retries():
    """Rewrites urllib3's retry warnings of MLflow's requests; others pass unchanged. Idempotent."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RetryNotice) for existing in logger.filters):
        logger.addFilter(_RetryNotice())


class _RetryNotice(logging.Filter):
    def filter(self, record):
        if record.msg != _RETRY_MESSAGE or "/mlflow" not in str(record.args[-1]):
            return True
        retry, error, _ = record.args
        retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
        factor = MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get()
        # urllib3 waits `factor * 2 ** (n - 1)` before the n-th retry, none before the first.
        budget_s = sum(min(_BACKOFF_MAX_S, factor * 2 ** (n - 1)) for n in range(2, retries + 1))
        refused = "Connection refused" in str(error) or "NewConnectionError" in repr(error)
        record.msg = (
            "MLflow tracking server unreachable (%s): retry %d of %d, "
            "giving up about %.0f s after the first failure"
        )
        cause = "connection refused" if refused else type(error).__name__
        record.args = (cause, len(retry.history), retries, budget_s)
        return True
