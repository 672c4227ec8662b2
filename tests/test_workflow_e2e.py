"""The real `snakemake` on the tiny grid: every table, figure, the report (rendered in headless
Chromium), the config-added objectives, a diverged run, and reruns that redo only what changed."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from wganbench import inventory
from wganbench.aggregate import INFO_COLUMNS

from conftest import TEST_CONFIG, WorkflowRun, missing_setup, snakemake

pytestmark = pytest.mark.slow

FIGURES = list(inventory.FIGURES)
EXPERIMENTS = {"toy", "architectures", "unstable", "custom"}
CATEGORIES = ["Scorecard", "Samples", "Metrics", "Tables", "Theory"]


def expected_cells(workdir: Path) -> int:
    """Runs the merged test config asks for (test.yaml, then extension.yaml)."""
    grid = yaml.safe_load((workdir / "config/test.yaml").read_text())
    extra = yaml.safe_load((workdir / "extension.yaml").read_text())
    experiments = {**grid["experiments"], **extra["experiments"]}
    return sum(len(e["datasets"]) * len(e["objectives"]) * len(e["archs"]) * len(e.get("seeds", grid["seeds"]))
               for e in experiments.values())


def test_runs_table_has_one_row_per_run_with_status_timing_and_metrics(local_run: WorkflowRun) -> None:
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    assert len(runs) == expected_cells(local_run.workdir)
    assert set(runs["experiment"]) == EXPERIMENTS
    for column in ["experiment", "dataset", "image_size", "objective", "arch", "critic", "seed", "status",
                   "iterations", "train_seconds", "job_seconds", "peak_rss_mb"]:
        assert column in runs, column
    assert (runs["job_seconds"] > 0).all() and (runs["peak_rss_mb"] > 0).all()
    metrics = [c for c in runs.columns if c not in INFO_COLUMNS]
    assert metrics, "no metric columns from metrics.json"
    completed = runs[runs["status"] == "completed"]
    assert completed[metrics].notna().any(axis=None)
    assert pd.read_parquet(local_run.results / "tables/runs.parquet").shape == runs.shape


def test_diverged_run_is_in_tables_and_workflow_completed(local_run: WorkflowRun) -> None:
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    unstable = runs[runs["experiment"] == "unstable"]
    assert list(unstable["status"]) == ["diverged"]
    assert "divergence_bound" in unstable["reason"].iloc[0]
    assert set(runs[runs["experiment"] != "unstable"]["status"]) == {"completed"}
    summary = pd.read_csv(local_run.results / "tables/summary.csv")
    assert (summary[summary["experiment"] == "unstable"]["success_rate"] == 0).all()
    assert "diverged" in (local_run.results / "tables/runs.html").read_text()


def test_summary_has_seed_statistics_and_baseline_tests(local_run: WorkflowRun) -> None:
    summary = pd.read_csv(local_run.results / "tables/summary.csv")
    for column in ["experiment", "dataset", "objective", "arch", "metric", "n_runs", "success_rate", "mean",
                   "std", "median", "ci_low", "ci_high", "baseline", "p_value", "p_holm", "significant"]:
        assert column in summary, column
    toy = summary[(summary["experiment"] == "toy") & summary["mean"].notna()]
    assert not toy.empty
    assert (toy["ci_low"] <= toy["mean"] + 1e-12).all() and (toy["mean"] <= toy["ci_high"] + 1e-12).all()
    tested = toy[toy["objective"] != "nsgan"]
    assert tested["p_value"].notna().any() and (tested["p_holm"] >= tested["p_value"]).all()
    assert toy[toy["objective"] == "nsgan"]["p_value"].isna().all()  # the baseline is not tested against itself


def test_curves_are_tidy_and_cover_logs_and_metrics(local_run: WorkflowRun) -> None:
    curves = pd.read_parquet(local_run.results / "tables/curves.parquet")
    assert {"experiment", "objective", "arch", "seed", "source", "variable", "iteration", "value"} <= set(curves)
    assert {"distance_estimate", "critic_loss", "generator_loss"} <= set(curves[curves["source"] == "log"]["variable"])
    assert len(curves.groupby(["experiment", "dataset", "objective", "arch", "seed"])) >= expected_cells(local_run.workdir) - 1


def test_every_figure_and_theory_output_exists(local_run: WorkflowRun) -> None:
    for kind in FIGURES:
        assert (local_run.results / f"figures/{kind}.png").stat().st_size > 5000, kind
    for experiment in EXPERIMENTS:
        assert (local_run.results / f"figures/samples/{experiment}.png").stat().st_size > 5000, experiment
    theory = yaml.safe_load((local_run.workdir / "config/test.yaml").read_text())["theory"]
    for name in theory:
        assert list((local_run.results / "theory" / name).glob("*.png")), name
        assert list((local_run.results / "theory" / name).glob("*.csv")), name


def test_every_run_has_an_outcome_against_a_derived_threshold(local_run: WorkflowRun) -> None:
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    assert set(runs["outcome"]) <= {"learned", "failed to learn", "still improving", "no plateau yet", "diverged", "failed"}
    assert list(runs[runs["experiment"] == "unstable"]["outcome"]) == ["diverged"]
    # two snapshots a run: too few to tell a plateau from a fall, so no run that missed the threshold "failed"
    missed = runs[(runs["status"] == "completed") & (runs["outcome"] != "learned")]
    assert len(missed) and set(missed["outcome"]) == {"no plateau yet"}
    levels = pd.read_csv(local_run.results / "tables/levels.csv")
    for dataset in ("8gaussians", "digits"):
        rows = levels[levels["dataset"] == dataset].set_index("generator")
        metric = rows["outcome_metric"].iloc[0]
        real, constant, threshold = rows.loc["real", metric], rows.loc["constant", metric], rows["outcome_threshold"].iloc[0]
        assert min(real, constant) < threshold < max(real, constant), dataset  # between the two references
        judged = runs[(runs["dataset"] == dataset) & (runs["status"] == "completed")]
        assert (judged["outcome_threshold"] == threshold).all() and (judged["outcome_metric"] == metric).all()
        better = judged[metric] < threshold if metric == "fid" else judged[metric] > threshold
        assert (better[judged["outcome"] == "learned"]).all()  # learned: past the threshold (and diverse)
        assert (judged[~better]["outcome"] != "learned").all()


def test_tiny_grid_scorecard_lists_every_claim_with_reasons(local_run: WorkflowRun) -> None:
    claims = pd.read_csv(local_run.results / "tables/claims.csv")
    catalogue = yaml.safe_load((local_run.workdir / "config/claims.yaml").read_text())["claims"]
    assert list(claims["claim"]) == [c["id"] for c in catalogue]
    verdicts = claims.set_index("claim")["verdict"]
    assert set(verdicts) <= {"reproduced", "contradicted", "inconclusive", "not run here"}
    # one or two seeds of a few iterations decide nothing sampled: inconclusive, each with its reason
    inconclusive = claims[claims["verdict"] == "inconclusive"]
    assert len(inconclusive) >= 4 and inconclusive["reason"].str.len().gt(10).all()
    assert verdicts["wgan-fig5-both-learn-dcgan"] == "inconclusive"  # 1 seed: fewer than 3 judged a side
    assert "fewer than 3" in claims.set_index("claim").loc["wgan-fig5-both-learn-dcgan", "reason"]
    assert verdicts["gan-js-estimate-does-not-track"] == "inconclusive"  # 2 snapshots: too few curve points
    # theory the tiny grid does not run, and the paper grid, are "not run here" with the config that runs them
    assert verdicts["bellemare-biased-wasserstein-gradients"] == "not run here"
    paper = claims.set_index("claim").loc["sngan-table2-cifar10-fid"]
    assert paper["verdict"] == "not run here" and "config/sngan-table2.yaml" in paper["reason"]
    # the parallel-lines theory runs in the tiny grid too, and decides its claim
    assert verdicts["wgan-example1-parallel-lines"] in {"reproduced", "contradicted"}
    scorecard = (local_run.results / "scorecard.md").read_text()
    assert all(f"**{claim}**" in scorecard for claim in claims["claim"])
    # the verdict over budget: every sampled claim at each snapshot iteration of the curves
    over = pd.read_csv(local_run.results / "tables/claims_over_budget.csv")
    assert set(over["iteration"]) == {2, 4} and set(over["verdict"]) <= set(verdicts)
    # ... of the claims whose cells this grid runs with metric snapshots (the toy ones here; a claim
    # whose cells are elsewhere, or have no snapshots, has no row)
    run_here = claims[(claims["kind"] == "empirical") & (claims["verdict"] != "not run here")]["claim"]
    assert set(over["claim"]) <= set(run_here)
    assert "gan-js-estimate-does-not-track" in set(over["claim"])
    assert (local_run.results / "figures/verdicts-over-budget.png").stat().st_size > 1000


def test_config_added_objectives_reach_the_tables(local_run: WorkflowRun) -> None:
    runs = pd.read_csv(local_run.results / "tables/runs.csv")
    custom = runs[runs["experiment"] == "custom"]
    assert set(custom["objective"]) == {"nsgan", "wgan-lowclip", "softplus-w"}
    assert set(custom["status"]) == {"completed"}
    resolved = yaml.safe_load((local_run.results / "runs/custom/8gaussians/softplus-w/mlp/seed0/config.yaml").read_text())
    assert resolved["loss"] == "user_losses:SoftplusWasserstein"
    assert resolved["lipschitz"] == {"gradient_penalty": 1}


# --- the report, rendered as a web page ----------------------------------------------------------

@pytest.fixture(scope="module")
def report(local_run: WorkflowRun) -> Path:
    result = snakemake(local_run.workdir, *TEST_CONFIG, "--report", "results/report.html", env=local_run.env)
    assert result.returncode == 0, result.stderr[-4000:]
    return local_run.results / "report.html"


def chromium(env: dict[str, str], profile: Path, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if binary is None:
        missing_setup("headless Chromium is not installed (apt-get install chromium)")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


# Walks the report's own React app (globals `app`, `categories`) through every category and
# subcategory and records what its navigation bar then shows, so the test reads the rendered page.
PROBE = """<script>
window.addEventListener('load', function () {
  var found = {}, views = [];
  Object.keys(categories).forEach(function (c) {
    Object.keys(categories[c]).forEach(function (s) { views.push([c, s]); });
  });
  function show(i) {
    if (i === views.length) {
      var pre = document.createElement('pre');
      pre.id = 'wganbench-probe';
      pre.textContent = JSON.stringify(found);
      document.body.appendChild(pre);
      return;
    }
    app.setView({navbarMode: 'menu'});
    setTimeout(function () {
      app.setView({navbarMode: 'subcategory', category: views[i][0], subcategory: views[i][1]});
      setTimeout(function () {
        found[views[i][0] + '/' + views[i][1]] = document.querySelector('nav').innerText;
        show(i + 1);
      }, 200);
    }, 200);
  }
  setTimeout(function () { show(0); }, 500);
});
</script>"""


def rendered_views(report: Path, env: dict[str, str], tmp_path: Path) -> tuple[str, dict[str, str]]:
    """(the rendered start page's text, {category/subcategory: its rendered navigation text})."""
    page = report.read_text()
    probed = tmp_path / "probed-report.html"
    cut = page.rindex("</body>")
    probed.write_text(page[:cut] + PROBE + page[cut:])
    start = chromium(env, tmp_path / "chromium", "--dump-dom", report.as_uri()).stdout
    dom = chromium(env, tmp_path / "chromium", "--dump-dom", probed.as_uri()).stdout
    match = re.search(r'<pre id="wganbench-probe">(.*?)</pre>', dom, flags=re.S)
    assert match, "the report's JavaScript did not render (no probe output)"
    return re.sub(r"<[^>]+>", " ", start), json.loads(html.unescape(match.group(1)))


def embedded_file(report: Path, name: str) -> str:
    """A file the report embeds as a data URI, decoded."""
    match = re.search(rf"data:[^;]+;charset=utf8;filename={re.escape(name)};base64,([A-Za-z0-9+/=]+)", report.read_text())
    assert match, f"{name} is not embedded in the report"
    return base64.b64decode(match.group(1)).decode()


def test_report_renders_every_category_and_figure(local_run: WorkflowRun, report: Path, tmp_path: Path) -> None:
    start, views = rendered_views(report, local_run.env, tmp_path)
    # the report opens on the scorecard: the landing pane shows its title, counts and claims table
    assert "wganbench scorecard" in start and "Scorecard:" in start
    # empirical claims first, grouped by paper; the theory checks after them, then the method
    assert (start.index("Scorecard:") < start.index("wgan-fig5-both-learn-dcgan") < start.index("Theory checks")
            < start.index("wgan-example1-parallel-lines") < start.index("Sampled claims (orderings"))
    for category in CATEGORIES:
        assert category in start, f"category {category} missing from the rendered start page"
    shown = {view: text.split() for view, text in views.items()}
    for experiment in EXPERIMENTS:
        assert "samples" in shown.get(f"Samples/{experiment}", []), f"sample grid of {experiment} not shown"
    metrics = [text for view, text in shown.items() if view.startswith("Metrics/")]
    for kind in FIGURES:
        assert any(kind in text for text in metrics), f"figure {kind} not shown"
    assert {"runs", "summary"} <= {word for view, text in shown.items() if view.startswith("Tables/") for word in text}
    for name in yaml.safe_load((local_run.workdir / "config/test.yaml").read_text())["theory"]:
        assert f"Theory/{name}" in shown, f"theory experiment {name} not shown"
    runs_page = embedded_file(report, "runs.html")
    assert "diverged" in runs_page  # the diverged run is in the report, marked as such
    for objective in ("wgan-lowclip", "softplus-w"):  # config-added objectives reach the report
        assert objective in runs_page


def test_report_screenshot_is_not_blank(local_run: WorkflowRun, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(local_run.env, tmp_path / "chromium", f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri())
    from PIL import Image

    low, high = Image.open(shot).convert("L").getextrema()
    assert high - low > 100, "the report screenshot is one colour: nothing rendered"


# --- reruns --------------------------------------------------------------------------------------

def test_nothing_to_do_after_a_complete_run(local_run: WorkflowRun, report: Path) -> None:
    result = snakemake(local_run.workdir, "--cores", "1", *TEST_CONFIG, "-n", env=local_run.env)
    assert result.returncode == 0, result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_changed_experiment_reruns_only_its_cells(local_run: WorkflowRun, report: Path, tmp_path: Path) -> None:
    changed = tmp_path / "more-iterations.yaml"
    changed.write_text("experiments:\n  custom:\n    iterations: 5\n")
    result = snakemake(local_run.workdir, "--cores", "1", *TEST_CONFIG, str(changed), "-n", "--quiet", "rules",
                       env=local_run.env)
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, flags=re.M))
    assert counts.get("train") == "3" and counts.get("evaluate") == "3", result.stdout
    assert counts.get("cell") == "3"  # the three runs' resolved configs, rewritten
    assert "theory_parallel_lines" not in counts
