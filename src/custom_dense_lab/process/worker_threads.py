"""TensorFlow's thread pools in a joblib sweep's workers: each worker gets its share of the cores.

Each worker process of `hydra/launcher=joblib` would otherwise size its pools
for the whole machine, and the workers fight over the cores. TensorFlow reads
`TF_NUM_INTRAOP_THREADS` and `TF_NUM_INTEROP_THREADS` when it starts; the
launching process sets them before the workers start, and they inherit them.
"""

from custom_dense_lab.config.overrides import parse

_N_JOBS_KEY = "hydra.launcher.n_jobs"
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def worker_thread_settings(overrides, cores, environ):
    """The thread variables a joblib sweep's workers should inherit.

    Args:
        overrides: The command line's `key=value` overrides.
        cores: The cores this process may use.
        environ: The current environment: a variable set there is kept.

    Returns:
        A dict of environment variables: each worker's threads, cores divided
        by the number of workers (at least 1); empty when the sweep does not
        use the joblib launcher.

    Example:

    >>> worker_thread_settings(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], 4, {})
    {'TF_NUM_INTRAOP_THREADS': '2', 'TF_NUM_INTEROP_THREADS': '2'}
    """
    values = {o.key_or_group: o.value() for o in parse(overrides) if not o.is_delete()}
    if values.get("hydra/launcher") != "joblib":
        return {}
    n_jobs = int(values.get(_N_JOBS_KEY, -1))
    if n_jobs < 0:  # joblib's convention: -1 is every core, -2 all but one, ...
        n_jobs = cores + 1 + n_jobs
    share = str(max(1, cores // max(1, min(n_jobs, cores))))
    return {name: share for name in THREAD_VARIABLES if name not in environ}
