# wganbench: the grid of objective x architecture x data set x seed, evaluated, gathered into
# tables and figures, and read as one HTML page:
#   snakemake --cores all                      # the default grid (config/config.yaml)
#   snakemake --report results/report.html     # the report
#   snakemake --profile workflow/profiles/slurm --configfile config/paper.yaml   # the paper's grid
import copy
import os

from snakemake.utils import min_version, validate

from wganbench import inventory
from wganbench.claims.catalogue import load_catalogues
from wganbench.grid_checks import check_config_files, one_line_errors
from wganbench.config import validate as refuse_invalid
from wganbench.extends import resolve_extensions
from wganbench.search import add_default_reruns, add_reruns, expand_searches

min_version("8.0")


# The default grid. A grid named with --configfile (config/test.yaml, config/paper.yaml) replaces
# it instead of being merged into it; to extend the default, name it too:
#   snakemake --configfile config/config.yaml my-objectives.yaml
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Bad input stops here, before any job, in one line naming the key and the fix (config/README.md):
# a key given twice in a config file (YAML would silently keep the last; the files are read again
# because Snakemake has merged them by now), then the schema through wganbench's one-line errors,
# then Snakemake's own validate, which fills in the defaults. workflow/rules/common.smk goes on
# with names, and, in the main process only, every cell as `wganbench train` will resolve it.
with one_line_errors():
    if workflow.is_main_process:
        check_config_files(workflow.configfiles)
    # `extends: <experiment>`: more seeds of some objectives, every other key the parent's
    EXTENSIONS = resolve_extensions(config)
    refuse_invalid(copy.deepcopy(config))
validate(config, "workflow/schemas/config.schema.yaml")
with one_line_errors():  # a malformed claim: one line naming the file and key, before any job
    load_catalogues(config["claims"])
with one_line_errors():  # an experiment with `search:` trains each objective as trials <objective>--t<k>
    SEARCH_TRIALS = expand_searches(config, inventory.builtin_objectives())
    RERUNS = add_reruns(config)  # <experiment>-best: each objective's best trial, more seeds
    DEFAULT_RERUNS = add_default_reruns(config)  # <experiment>-defaults: each objective's own setting, same seeds


# The report opens on the scorecard once rule `claims` has written it (the claims table, then this
# workflow's description); before that, on the description alone.
SCORECARD_PAGE = "results/report/workflow.rst"


report: SCORECARD_PAGE if os.path.exists(SCORECARD_PAGE) else "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/report.smk"


onstart:
    # after the DAG is built, before the first job (not in a dry run, so a cluster grid can be
    # planned where its data is not): every torchvision data set's data_root exists
    check_data_roots()


rule all:
    input:
        rules.aggregate.output,
        rules.claims.output,
        figure_targets(),
        theory_targets(),
        study_targets(),
    default_target: True
