"""Shipped model weights (package data, ``weights/*.pth``), listed in ``model-index.yml``."""
import os.path as osp

WEIGHTS_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'weights')
