# wganbench: the grid of objective x architecture x data set x seed, evaluated, gathered into
# tables and figures, and read as one HTML page:
#   snakemake --cores all                      # the default grid (config/config.yaml)
#   snakemake --report results/report.html     # the report
#   snakemake --profile workflow/profiles/slurm --configfile config/paper.yaml   # the paper's grid
from snakemake.utils import min_version, validate

min_version("8.0")


# The default grid. A grid named with --configfile (config/test.yaml, config/paper.yaml) replaces
# it instead of being merged into it; to extend the default, name it too:
#   snakemake --configfile config/config.yaml my-objectives.yaml
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        rules.aggregate.output,
        figure_targets(),
        theory_targets(),
    default_target: True
