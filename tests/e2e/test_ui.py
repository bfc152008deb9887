"""The MLflow UI as users see it, in a real browser: a small sweep, `mlflow server`, Chromium.

The sweep runs as users run it (`python -m custom_dense_lab.train -m ...` in its own
folder), the server is `mlflow server` over that store, and Debian's Chromium,
driven by Playwright, opens the links the sweep printed. With
`CUSTOM_DENSE_SCREENSHOTS=<folder>` the tests also save the README's
screenshots there (`make screenshots`).
"""

import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import mlflow
import pytest
from helpers import (
    free_port,
    run_module,
    sqlite_uri,
    using_store,
    wait_for_health,
)

from custom_dense_lab.tracking import ui
from custom_dense_lab.ui import server_environment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("CUSTOM_DENSE_SCREENSHOTS")
SWEEP = ("layer=custom,stock", "model.units=16,32", "trainer.epochs=3", "model.depth=1")
JOB_NAMES = {"custom u16", "custom u32", "stock u16", "stock u32"}
MODEL_NAMES = {"custom-u16-d1-relu", "custom-u32-d1-relu", "stock-u16-d1-relu", "stock-u32-d1-relu"}
# Where the sweep registers its best custom model: its experiment's and dataset's name.
REGISTERED = "custom-dense-digits"
# What the UI (MLflow 3.17) stores once its Assistant panel was opened and closed.
ASSISTANT_CLOSED = (
    ("mlflow.assistant.fab.autoOpenedOnFirstLoad_v1", "true"),
    ("mlflow.assistant.panelOpen_v1", "false"),
)
# The UI's first load compiles its bundle in the browser; the server answers ~25 s after start.
UI_TIMEOUT_MS = 60_000

# Its tests share module-scoped fixtures (a sweep, a server, a browser): under xdist, one worker.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("ui"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Chromium is not installed ({CHROMIUM}): apt-get install -y chromium",
    ),
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 4-job sweep run through the CLI in its own folder; what it printed, its ids."""
    folder = tmp_path_factory.mktemp("ui_sweep")
    uri = sqlite_uri(folder)
    result = run_module(
        "custom_dense_lab.train", "-m", *SWEEP, cwd=folder, env={"MLFLOW_TRACKING_URI": uri}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    experiment_link = re.search(r"^Experiment 'custom-dense': (\S+)$", result.stdout, re.M)
    sweep_link = re.search(r"^  this sweep: (\S+)$", result.stdout, re.M)
    assert experiment_link and sweep_link, result.stdout[-3000:]
    with using_store(uri):
        experiment = mlflow.get_experiment_by_name("custom-dense")
        (parent,) = mlflow.search_runs(
            [experiment.experiment_id], "tags.`custom_dense.sweep` = 'true'", output_format="list"
        )
        models = mlflow.search_logged_models(
            experiment_ids=[experiment.experiment_id], output_format="list"
        )
        jobs = mlflow.search_runs(
            [experiment.experiment_id],
            f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
            output_format="list",
        )
        champion = mlflow.MlflowClient().get_model_version_by_alias(REGISTERED, "champion")
    return types.SimpleNamespace(
        folder=folder,
        uri=uri,
        experiment=experiment,
        parent=parent,
        jobs={job.info.run_id: job for job in jobs},
        models=models,
        champion=champion,
        experiment_link=experiment_link[1],
        sweep_link=sweep_link[1],
    )


@pytest.fixture(scope="module")
def server(sweep):
    """`mlflow server` on 127.0.0.1 over the sweep's store; its address."""
    port = free_port()
    log_path = sweep.folder / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "mlflow", "server", "--backend-store-uri", sweep.uri),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            ],
            cwd=sweep.folder,
            env=server_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(address, process, log_path)
        yield address
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab, as a user who closed the MLflow Assistant panel has it.

    The UI opens the Assistant on its first load, over a third of the page;
    the UI keeps that choice in localStorage, set here before every page.
    """
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_init_script(
        "".join(f"localStorage.setItem('{key}', '{value}');" for key, value in ASSISTANT_CLOSED)
    )
    yield context.new_page()
    context.close()


def test_the_printed_link_opens_the_experiment_on_its_training_runs(sweep, server, page):
    assert sweep.experiment.tags[ui.EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert "How to reproduce" in sweep.experiment.tags[ui.NOTE_TAG]
    page.goto(_served(sweep.experiment_link, server))
    grid = page.get_by_role("treegrid").or_(page.get_by_role("grid")).first
    grid.get_by_text(sweep.parent.info.run_name, exact=True).wait_for(timeout=UI_TIMEOUT_MS)
    assert "/runs" in page.url
    assert page.get_by_role("columnheader", name="Run Name").first.is_visible()
    assert not page.get_by_text("Detect Issues").is_visible()  # the GenAI overview's button
    assert page.get_by_text("CustomDense (a Dense layer written from scratch)").first.is_visible()


def test_the_sweep_parent_is_named_and_expands_to_its_jobs(sweep, server, page):
    name = sweep.parent.info.run_name
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d · custom vs stock · units 16,32", name)
    assert {job.info.run_name for job in sweep.jobs.values()} == JOB_NAMES
    page.goto(_served(sweep.experiment_link, server))
    name_cells = page.locator('[role=gridcell][col-id="attributes.`Run Name`"]')
    parent_cell = name_cells.filter(has_text=name)
    parent_cell.wait_for(timeout=UI_TIMEOUT_MS)
    assert name_cells.count() == 1  # the jobs are nested under their parent
    parent_cell.get_by_role("button").first.click()
    for job_name in JOB_NAMES:
        name_cells.get_by_text(job_name, exact=True).wait_for(timeout=UI_TIMEOUT_MS)
    _widen_run_names(page)
    _screenshot(page, "runs.png", height=450)


def test_the_parent_description_tells_the_result(sweep, server, page):
    page.goto(_served(sweep.sweep_link, server))
    headline = page.get_by_text("2 custom/stock pairs: identical test accuracy")
    headline.wait_for(timeout=UI_TIMEOUT_MS)
    page.get_by_text("Show more", exact=True).click()
    step_time = re.compile(r"Training step time, custom / stock: \d\.\d{3} \(95% interval")
    assert page.get_by_text(step_time).is_visible()
    best_id = sweep.parent.data.tags["best_run_id"]
    best_href = f"#/experiments/{sweep.experiment.experiment_id}/runs/{best_id}?{ui.VIEW_QUERY}"
    best_link = page.locator(f'a[href="{best_href}"]')
    assert best_link.inner_text() == sweep.jobs[best_id].info.run_name
    for job_name in JOB_NAMES:  # the child runs' links, listed beside the description
        page.get_by_role("link", name=job_name, exact=True).first.wait_for(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "parent.png", height=760)
    page.goto(f"{server}/{best_href}")
    page.get_by_text(sweep.jobs[best_id].info.run_name, exact=True).first.wait_for(
        timeout=UI_TIMEOUT_MS
    )


def test_comparison_png_renders_in_the_artifact_view(sweep, server, page):
    run = f"#/experiments/{sweep.experiment.experiment_id}/runs/{sweep.parent.info.run_id}"
    page.goto(f"{server}/{run}/artifacts/comparison.png?{ui.VIEW_QUERY}")
    image = page.locator("img[src^='blob:']").first
    image.wait_for(timeout=UI_TIMEOUT_MS)
    page.wait_for_function("image => image.complete", arg=image.element_handle())
    width, height = image.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert width == 700 and height > 100
    assert image.bounding_box()["width"] > 300
    _screenshot(page, "comparison.png")


def test_the_models_page_lists_each_jobs_model_by_name_with_its_final_metrics(sweep, server, page):
    assert {model.name for model in sweep.models} == MODEL_NAMES
    experiment = f"#/experiments/{sweep.experiment.experiment_id}"
    page.goto(f"{server}/{experiment}/models?{ui.VIEW_QUERY}")
    for model in sweep.models:
        job = sweep.jobs[model.source_run_id]
        for text in (
            model.name,
            job.data.tags["mlflow.runName"],
            repr(job.data.metrics["train_loss"]),
        ):
            page.get_by_text(text, exact=True).filter(visible=True).first.wait_for(
                timeout=UI_TIMEOUT_MS
            )
    # The registered champion's row links to the registry.
    page.get_by_role("link", name=REGISTERED).first.wait_for(timeout=UI_TIMEOUT_MS)
    _screenshot(page, "models.png", height=430)
    model = sweep.models[0]
    job = sweep.jobs[model.source_run_id]
    page.goto(f"{server}/{experiment}/models/{model.model_id}?{ui.VIEW_QUERY}")
    metrics = page.get_by_role("row")
    for key in ("test_accuracy", "val_accuracy", "train_loss"):
        row = metrics.filter(has=page.get_by_role("cell", name=key, exact=True))
        row.first.wait_for(timeout=UI_TIMEOUT_MS)
        assert repr(job.data.metrics[key]) in row.first.inner_text()


def test_the_registry_shows_the_best_custom_model_as_champion(sweep, server, page):
    champion = sweep.champion
    custom = [job for job in sweep.jobs.values() if job.data.tags["layer_impl"] == "custom"]
    assert champion.tags["job_run_id"] in {job.info.run_id for job in custom}
    assert float(champion.tags["score"]) == max(job.data.metrics["val_accuracy"] for job in custom)
    assert champion.tags["sweep_run_id"] == sweep.parent.info.run_id
    page.goto(f"{server}/#/models/{REGISTERED}?{ui.VIEW_QUERY}")
    row = page.get_by_role("row").filter(has_text=f"Version {champion.version}")
    row.get_by_text("champion").wait_for(timeout=UI_TIMEOUT_MS)
    assert champion.tags["job_run_id"] in row.inner_text()
    _screenshot(page, "registry.png", height=560)


def _widen_run_names(page, by_px=200):
    """Drags the Run Name column's edge to the right, so that the sweep's name shows whole."""
    header = page.locator('[role=columnheader][col-id="attributes.`Run Name`"]').first
    box = header.bounding_box()
    edge_x, middle_y = box["x"] + box["width"] - 2, box["y"] + box["height"] / 2
    page.mouse.move(edge_x, middle_y)
    page.mouse.down()
    page.mouse.move(edge_x + by_px, middle_y, steps=5)
    page.mouse.up()


def _served(link, server):
    """A link the sweep printed for a local `mlflow ui`, pointed at the test's server."""
    assert link.startswith(ui.LOCAL_UI + "/")
    return server + link.removeprefix(ui.LOCAL_UI)


def _screenshot(page, name, height=480):
    """Saves the top `height` pixels of the page as `name` where screenshots are asked for."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height}
        page.screenshot(path=str(Path(SCREENSHOTS) / name), clip=clip)
