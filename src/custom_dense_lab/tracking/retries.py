"""One short line while MLflow retries an unreachable tracking server.

MLflow's HTTP client retries a request that cannot reach the server
`MLFLOW_HTTP_REQUEST_MAX_RETRIES` times (7 by default), each wait twice the
last (`MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`, 2 s): about 4 minutes in all, so
that a server or database restart of a minute loses no job and no run.
urllib3 logs each retry as a long warning; `explain_http_retries` turns it
into `MLflow tracking server unreachable (connection refused): retry 3 of 7,
giving up about 244 s after the first failure`.

Imports MLflow's settings only, so that it can run before TensorFlow loads.
"""

import logging

from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
)

# urllib3's cap on one wait between two retries.
_BACKOFF_MAX_S = 120.0
_URLLIB3_LOGGER = "urllib3.connectionpool"
# The start of urllib3's warning for a retried request (connectionpool.py).
_RETRY_MESSAGE = "Retrying (%r) after connection broken by '%r': %s"


def retry_budget_s(max_retries=None, backoff_factor=None):
    """How long MLflow's client keeps retrying an unreachable server before it gives up.

    Args:
        max_retries: Retries of one request; default: MLflow's setting.
        backoff_factor: Seconds of the first wait; default: MLflow's setting.

    Returns:
        The seconds waited in all, from the first failure to the last retry
        (urllib3 waits nothing before the first retry, then
        `backoff_factor * 2 ** (n - 1)` before the n-th, at most 120 s).
    """
    retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() if max_retries is None else max_retries
    factor = MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() if backoff_factor is None else backoff_factor
    return sum(min(_BACKOFF_MAX_S, factor * 2 ** (n - 1)) for n in range(2, retries + 1))


def explain_http_retries():
    """Makes urllib3's retry warnings for MLflow's requests one short line each.

    Other requests' warnings pass unchanged. Calling it again does nothing.
    """
    logger = logging.getLogger(_URLLIB3_LOGGER)
    if not any(isinstance(existing, _RetryNotice) for existing in logger.filters):
        logger.addFilter(_RetryNotice())


class _RetryNotice(logging.Filter):
    """Rewrites urllib3's "Retrying (...) after connection broken by ..." of an MLflow request."""

    def filter(self, record):
        if record.msg != _RETRY_MESSAGE or len(record.args) != 3:
            return True
        retry, error, path = record.args
        if "/mlflow" not in str(path):
            return True
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
