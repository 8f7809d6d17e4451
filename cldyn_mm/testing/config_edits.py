"""Edits of a loaded config that run it small: images scaled down, single-process data loading,
another data root, fewer samples. Used by the tests and by tools/run_demo_pipeline.py, which
run the repository's configs on the generated demo data in minutes on a CPU."""
from typing import Optional


def rescale_pipelines(node, factor: float, _seen: Optional[set] = None) -> None:
    """Multiply ``scale`` / ``crop_size`` of every transform of every ``pipeline`` under
    ``node`` (a config, or part of one) by ``factor``, in place. Used to run a config at a
    smaller image size (the demo pipeline, tests) without restating its pipelines. A pipeline
    reached twice (``test_dataloader = val_dataloader`` shares it) is scaled once."""
    seen = set() if _seen is None else _seen
    if isinstance(node, dict):
        pipeline = node.get('pipeline')
        if isinstance(pipeline, list) and id(pipeline) not in seen:
            seen.add(id(pipeline))
            for t in pipeline:
                if not isinstance(t, dict) or id(t) in seen:
                    continue
                seen.add(id(t))
                for key in ('scale', 'crop_size'):
                    if isinstance(t.get(key), (tuple, list)):
                        t[key] = tuple(max(1, int(round(v * factor))) for v in t[key])
        for value in node.values():
            rescale_pipelines(value, factor, seen)
    elif isinstance(node, (list, tuple)):
        for value in node:
            rescale_pipelines(value, factor, seen)


def main_process_loaders(node) -> None:
    """``num_workers=0`` (no worker processes) in every dataloader config under ``node``."""
    if isinstance(node, dict):
        if 'dataset' in node and 'batch_size' in node:
            node['num_workers'] = 0
            node['persistent_workers'] = False
        for value in node.values():
            main_process_loaders(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            main_process_loaders(value)


def set_data_root(node, root: str) -> None:
    """Set every ``data_root`` under ``node`` to ``root``."""
    if isinstance(node, dict):
        if 'data_root' in node:
            node['data_root'] = root
        for value in node.values():
            set_data_root(value, root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            set_data_root(value, root)


def limit_datasets(node, n: int) -> None:
    """``indices=n`` (the first n samples) for every dataset config under ``node``."""
    if isinstance(node, dict):
        if 'pipeline' in node and 'type' in node:
            node['indices'] = n
        for value in node.values():
            limit_datasets(value, n)
    elif isinstance(node, (list, tuple)):
        for value in node:
            limit_datasets(value, n)
