"""One short line for each retry of MLflow's client while its tracking server is away.

urllib3 logs each retry as a warning of several hundred characters; this says
`MLflow tracking server unreachable (connection refused): retry 3 of 7, giving up about 244 s
after the first failure`. Imports MLflow's settings only, so that it runs before TensorFlow.
"""

import logging

from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
)

# urllib3's warning for a retried request (connectionpool.py), and its cap on one wait.
_RETRY_MESSAGE = "Retrying (%r) after connection broken by '%r': %s"
_BACKOFF_MAX_S = 120.0


def retry_budget_s(max_retries=None, backoff_factor=None):
    """Seconds from the first failure to the last retry, with MLflow's settings by default
    (urllib3 waits `backoff_factor * 2 ** (n - 1)` before the n-th retry, none before the first)."""
    retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() if max_retries is None else max_retries
    factor = MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() if backoff_factor is None else backoff_factor
    return sum(min(_BACKOFF_MAX_S, factor * 2 ** (n - 1)) for n in range(2, retries + 1))


def explain_http_retries():
    """Rewrites urllib3's retry warnings of MLflow's requests; others pass unchanged. Idempotent."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RetryNotice) for existing in logger.filters):
        logger.addFilter(_RetryNotice())


class _RetryNotice(logging.Filter):
    def filter(self, record):
        if (
            record.msg != _RETRY_MESSAGE
            or len(record.args) != 3
            or "/mlflow" not in str(record.args[2])
        ):
            return True
        retry, error, _ = record.args
        refused = "Connection refused" in str(error) or "NewConnectionError" in repr(error)
        record.msg = (
            "MLflow tracking server unreachable (%s): retry %d of %d, "
            "giving up about %.0f s after the first failure"
        )
        record.args = (
            "connection refused" if refused else type(error).__name__,
            len(retry.history),
            MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(),
            retry_budget_s(),
        )
        return True
