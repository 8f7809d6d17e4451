"""Helpers for tests, demos and examples: the generated demo data (a seeded synthetic IR/VIS
road-scene set with detection, segmentation and saliency labels) and config edits that run a
config small, and an in-memory storage backend for tests of remote reading."""
from .config_edits import limit_datasets, main_process_loaders, rescale_pipelines, set_data_root
from .demo_data import generate_demo_dataset, render_contact_sheet, render_demo_sample
from .memory_backend import MemoryStorageBackend, memory_backend_args

__all__ = [
    'generate_demo_dataset', 'render_demo_sample', 'render_contact_sheet', 'rescale_pipelines',
    'main_process_loaders', 'set_data_root', 'limit_datasets', 'MemoryStorageBackend',
    'memory_backend_args'
]
