#!/usr/bin/env bash
# The CUDA paths in one short run on one GPU (at most 10 minutes, about 7 expected; each step has its own time limit
# and writes its output to $OUT as it goes, so a step that hangs costs only its own figures):
# default-grid cells and the zero-centred / relativistic / MMD / LeCam objectives trained on the
# GPU, a repeat of a cell compared bit for bit, bf16 + channels-last, torch.compile, and the
# ensemble and framework-overhead benchmarks with --device cuda. Figures: benchmarks/README.md.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh
#
# A machine without the package's dependencies installs them from wheels in .wheels/ (a machine
# with no index to reach), made beforehand where PyPI is reachable, e.g. for Python 3.12:
#   pip download -d .wheels --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       torch-fidelity prdc POT jsonschema jsonschema-specifications referencing rpds-py lmdb
# Everything else must already be there (torch with CUDA, numpy, scipy, pandas, scikit-learn).
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ -d .wheels ]; then
    $PY -m pip install -q --no-deps --no-index .wheels/*.whl 2>&1 | tail -2
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # the package from this checkout, installed or not
step() {  # step NAME SECONDS COMMAND...: one figure-producing step, its output kept in $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    echo "--- $name: exit $?, $((SECONDS - start)) s"
    tail -n 25 "$OUT/$name.txt"
}
$PY -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'python', platform.python_version(), torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
CELLS="$PY benchmarks/gpu_cells.py"
# the default grid's toy cells whose objectives the issue added, 7 seeds, full length, vmapped
step toy 110 $CELLS --experiment toy --objective wgan-gp-toy --objective rpgan-r1r2-toy --objective lecam-gan \
    --objective mmd-gan --objective dragan --repeat
# the default grid's image cells (digits 16 px, DCGAN pair), 7 seeds, full length
step digits 100 $CELLS --experiment architectures --arch dcgan --repeat
step digits-bf16 60 $CELLS --experiment architectures --arch dcgan --set precision=bf16 --set channels_last=true
step digits-compile 80 $CELLS --experiment architectures --arch dcgan --objective nsgan --iterations 300 --set compile=true
# the new objectives on digits (config/objectives.yaml), 5 seeds, 300 of their 1,000 iterations
step objectives 80 $CELLS --config config/objectives.yaml --iterations 300
step ensemble 100 $PY benchmarks/bench_ensemble.py --iterations 20 --ks 1,8 --digits-ks 1,8 --device cuda
step overhead 60 $PY benchmarks/bench_overhead.py --quick --device cuda
