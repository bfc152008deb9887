"""Each joblib worker's TensorFlow threads: its share of the cores, unless the user chose."""

from custom_dense_lab.process.worker_threads import worker_thread_settings

JOBLIB = "hydra/launcher=joblib"


def test_two_workers_on_two_cores_get_one_thread_each():
    settings = worker_thread_settings([JOBLIB, "hydra.launcher.n_jobs=2", "seed=0,1"], 2, {})
    assert settings == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def test_joblibs_default_of_every_core_and_negative_counts():
    assert worker_thread_settings([JOBLIB], 8, {})["TF_NUM_INTRAOP_THREADS"] == "1"
    assert worker_thread_settings([JOBLIB, "hydra.launcher.n_jobs=-5"], 8, {}) == {
        "TF_NUM_INTRAOP_THREADS": "2",
        "TF_NUM_INTEROP_THREADS": "2",
    }


def test_more_workers_than_cores_still_get_a_thread():
    settings = worker_thread_settings([JOBLIB, "hydra.launcher.n_jobs=6"], 2, {})
    assert settings["TF_NUM_INTRAOP_THREADS"] == "1"


def test_the_users_own_setting_and_other_launchers_are_left_alone():
    chosen = {"TF_NUM_INTRAOP_THREADS": "4"}
    assert worker_thread_settings([JOBLIB], 2, chosen) == {"TF_NUM_INTEROP_THREADS": "1"}
    assert worker_thread_settings(["hydra/launcher=slurm", "seed=0,1"], 2, {}) == {}
    assert worker_thread_settings(["seed=0,1"], 2, {}) == {}
