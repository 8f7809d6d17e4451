#!/usr/bin/env bash
# Distributed evaluation with torchrun (as mmdet's tools/dist_test.sh):
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [tools/test.py arguments...]
# One process per GPU with NCCL; without CUDA, NUM_PROCS CPU processes with gloo (see
# cldyn_mm/utils/distributed.py). Several nodes: NNODES, NODE_RANK, MASTER_ADDR and PORT
# (default 29500) on each node. PYTHON picks the interpreter (default: python).

if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NUM_PROCS [tools/test.py arguments...]" >&2
    exit 2
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
