#!/usr/bin/env bash
# Install wganbench with its test and workflow extras, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -e ".[test,workflow]"
python -m pytest -q "$@"
