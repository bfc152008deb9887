"""One short line for each retry of MLflow's client while its tracking server is away, instead
of urllib3's long warning; loaded before TensorFlow."""

import logging

from mlflow import environment_variables as env

_RETRY_MESSAGE = "Retrying (%r) after connection broken by '%r': %s"  # urllib3's


def explain_http_retries():
    """Rewrites urllib3's retry warnings of MLflow's requests; others pass unchanged. Idempotent."""
    logging.getLogger("urllib3.connectionpool").addFilter(_notice)  # added once at most


def _notice(record):
    if record.msg == _RETRY_MESSAGE and "/mlflow" in str(record.args[-1]):
        retry, error, _ = record.args
        # urllib3 waits `factor * 2 ** (n - 1)`, at most 120 s, before the n-th retry but the first.
        retries = env.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
        factor = env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get()
        waits = (min(120.0, factor * 2 ** (n - 1)) for n in range(2, retries + 1))
        refused = "Connection refused" in str(error) or "NewConnectionError" in repr(error)
        record.msg = "MLflow tracking server unreachable (%s): retry %d of %d, giving up about %.0f s after the first failure"
        cause = "connection refused" if refused else type(error).__name__
        record.args = (cause, len(retry.history), retries, sum(waits))
    return True
