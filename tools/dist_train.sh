#!/usr/bin/env bash
# Distributed training with torchrun (as mmdet's tools/dist_train.sh):
#   tools/dist_train.sh CONFIG NUM_PROCS [tools/train.py arguments...]
# One process per GPU with NCCL; without CUDA, NUM_PROCS CPU processes with gloo (SyncBN
# becomes BN; see cldyn_mm/utils/distributed.py). Several nodes: NNODES, NODE_RANK,
# MASTER_ADDR and PORT (default 29500) on each node.

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCS [tools/train.py arguments...]" >&2
    exit 2
fi

CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
