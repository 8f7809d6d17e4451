"""Writers of task predictions made by :class:`FusionInferencer` (one job: files on disk).

* detection: one COCO-style results JSON, a list of
  ``{"image_id": <stem>, "bbox": [x, y, w, h], "score": s, "category_id": c}`` (pixels of the
  original image, ``category_id`` the 0-based class index into the model's ``classes``);
* segmentation: ``<dir>/<stem>.png``, the class index per pixel (8-bit, 16-bit from 256
  classes on);
* salient objects: ``<dir>/<stem>.png``, the saliency map in [0, 1] as 8-bit grey (0-255).

Every file is written atomically (temporary file + rename).
"""
import json
import os
import os.path as osp
from typing import List

import numpy as np

from cldyn_mm.utils.image_io import write_image_atomic


def xyxy_to_coco(bboxes: np.ndarray) -> np.ndarray:
    """(N, 4) corners ``x1, y1, x2, y2`` (either order) -> (N, 4) ``x, y, w, h``, float."""
    b = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    x1, x2 = np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2])
    y1, y2 = np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3])
    return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)


class DetectionJSONWriter:
    """Collects detections per image and writes the COCO results list on :meth:`close`."""

    def __init__(self, path: str) -> None:
        if osp.isdir(path):
            raise IsADirectoryError(f'pred_out: detection results go into one JSON file, '
                                    f'but {path} is a folder')
        self.path = path
        self.records: List[dict] = []

    def add(self, stem: str, result: dict) -> None:
        boxes = xyxy_to_coco(result['bboxes'])
        for box, score, label in zip(boxes, result['scores'], result['labels']):
            self.records.append(
                dict(
                    image_id=stem,
                    bbox=[round(float(v), 3) for v in box],
                    score=round(float(score), 5),
                    category_id=int(label)))

    def close(self) -> None:
        folder = osp.dirname(osp.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        tmp = self.path + '.partial'
        with open(tmp, 'w') as f:
            json.dump(self.records, f)
        os.replace(tmp, self.path)


class MaskPNGWriter:
    """Writes ``<folder>/<stem>.png`` per image: class masks (``sem_seg``) or, for salient
    object detection, the saliency map (``saliency``)."""

    def __init__(self, folder: str, task: str) -> None:
        if osp.splitext(folder)[1].lower() == '.json' or osp.isfile(folder):
            raise ValueError(f'pred_out: {task} predictions are PNG files in a folder, '
                             f'got {folder}')
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.task = task

    def add(self, stem: str, result: dict) -> None:
        if self.task == 'sod':
            img = (np.clip(result['saliency'], 0, 1) * 255 + 0.5).astype(np.uint8)
        else:
            mask = result['sem_seg']
            img = mask.astype(np.uint8 if mask.max(initial=0) < 256 else np.uint16)
        write_image_atomic(osp.join(self.folder, f'{stem}.png'), img)

    def close(self) -> None:
        pass


def prediction_writer(task: str, path: str):
    """The writer for ``task`` (``'det'``: a JSON file; ``'seg'`` / ``'sod'``: a folder)."""
    if task == 'det':
        return DetectionJSONWriter(path)
    if task in ('seg', 'sod'):
        return MaskPNGWriter(path, task)
    raise ValueError(f'no prediction files for task {task!r}')
