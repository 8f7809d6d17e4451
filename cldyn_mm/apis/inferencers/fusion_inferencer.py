"""``FusionInferencer``: fuse infrared / visible pairs (and run the task network) in one call.

The MMEngine inferencer workflow (``preprocess -> forward -> visualize -> postprocess``) for
the two kinds of models of this project:

* a **fuser** (``VFNFuser``, ``CLDyNFuser``; e.g. ``configs/vfn/*.py``,
  ``configs/cldyn/cldyn_vfn-rsc_pairs.py``): the fused image, optionally compensated with one fixed
  task feature (``task_feat``) for every pair;
* a **fused task model** (``FusedDetector`` / ``FusedSegmentor`` with a detection,
  segmentation or salient-object adapter, ``model.mode`` ``'cldyn'`` or ``'vfn'``): the
  task-customized fusion, whose task feature the wrapper computes per image from the frozen task
  network on the plain VFN fusion, and that network's predictions on it.

See docs/inference.md for examples, the result format and the errors.
"""
import copy
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.structures import BaseDataElement
from torch.utils.data import DataLoader, Dataset

from cldyn_mm.datasets.paired_image_dataset import list_images, pair_by_stem
from cldyn_mm.datasets.transforms.loading import check_image_array
from cldyn_mm.registry import DATASETS, MODELS, VISUALIZERS
from cldyn_mm.utils import register_all_modules
from cldyn_mm.visualization import to_uint8_rgb
from ..fusion_inference import OUTPUT_EXTENSIONS, size_batches, write_rgb
from ..model_index import resolve_model
from .prediction_io import prediction_writer, write_image_atomic
from .weights import load_model_weights

PathLike = Union[str, os.PathLike]
ImageInput = Union[PathLike, np.ndarray]
PairInput = Tuple[ImageInput, ImageInput]

#: annotation loaders dropped from a task config's test pipeline (no labels at inference)
_ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadPairedSegAnnotations')


def _is_image_input(x) -> bool:
    return isinstance(x, (str, os.PathLike, np.ndarray))


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(map(_is_image_input, x))


def _looks_like_path(name: str) -> bool:
    return name.endswith('.py') or os.sep in name or '/' in name


class _ItemDataset(Dataset):
    """The pipeline applied to input items (dicts with paths or arrays) by index."""

    def __init__(self, items: List[dict], pipeline) -> None:
        self.items = items
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(self.items[i]))


class FusionInferencer(BaseInferencer):
    """Fuse infrared / visible pairs with a fuser or a fused task model.

    Args:
        model (str | Config): A name from the model index (``model-index.yml``, see
            :func:`cldyn_mm.apis.list_models`; its weights are resolved too) or a config file
            (or ``Config``) of a fuser or a fused task model.
        weights (str, optional): Checkpoint, loaded strictly (keys ``module.``-stripped, the
            data preprocessor's buffers ignored). Overrides the index's weights for a name.
            ``None`` with a config: the weights the config itself loads (e.g.
            ``model.fuser_checkpoint``), else random ones (with a warning).
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'``, ... Defaults to ``'cpu'``.
        cfg_options (dict, optional): Config overrides (``--cfg-options`` style keys).
        trust_checkpoint (bool): Unpickle the checkpoint fully (only for files you trust).
        show_progress (bool): A tqdm progress bar over the pairs. Defaults to True.
        index (str, optional): Another model index file (tests; ``$CLDYN_MODEL_INDEX``).

    Call: ``inferencer(inputs)`` or ``inferencer(ir=DIR, vi=DIR)``; see :meth:`__call__`.

    Attributes:
        task (str | None): ``'det'``, ``'seg'``, ``'sod'`` for a fused task model, else None.
        dataset_meta (dict): ``classes`` / ``palette`` for drawing and prediction files (from
            the checkpoint's meta, the task adapter's checkpoint, or the config's dataset).
    """

    preprocess_kwargs: set = {'num_workers'}
    forward_kwargs: set = {'task_feat'}
    visualize_kwargs: set = {'draw', 'panel_dir', 'score_thr'}
    postprocess_kwargs: set = {'out_dir', 'ext', 'pred_out', 'return_results'}

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 cfg_options: Optional[dict] = None,
                 trust_checkpoint: bool = False,
                 show_progress: bool = True,
                 index: Optional[str] = None) -> None:
        register_all_modules(init_default_scope=True)
        self.model_name = '<config object>'
        weights = os.fspath(weights) if weights is not None else None
        if isinstance(model, (str, os.PathLike)):
            model = self.model_name = os.fspath(model)
            if osp.isfile(model):
                cfg = Config.fromfile(model)
            elif _looks_like_path(model):
                raise FileNotFoundError(f'config file not found: {model}')
            else:
                config_path, index_weights = resolve_model(model, index)
                cfg = Config.fromfile(config_path)
                weights = weights or index_weights
        elif isinstance(model, Config):
            cfg = copy.deepcopy(model)
        elif isinstance(model, dict):
            cfg = Config(copy.deepcopy(dict(model)))
        else:
            raise TypeError(f'model must be a model name, a config path or a Config, got '
                            f'{type(model).__name__}')
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.weights = weights
        self.trust_checkpoint = trust_checkpoint
        self.checkpoint_meta: dict = {}
        super().__init__(
            model=cfg,
            weights=weights,
            device=device,
            scope='cldyn_mm',
            show_progress=show_progress)
        self.dataset_meta = self._dataset_meta(cfg)

    # ------------------------------------------------------------------ construction
    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu') -> torch.nn.Module:
        from cldyn_mm.models.fusers.base_fuser import BaseFuser
        from cldyn_mm.models.task_wrappers import BaseFusedTaskModel
        if not cfg.get('model'):
            raise ValueError(f'config of {self.model_name} has no model')
        model = MODELS.build(cfg.model)
        if isinstance(model, BaseFusedTaskModel):
            if model.fusion_mode not in ('vfn', 'cldyn'):
                raise ValueError(f"FusionInferencer needs a fused task model in mode 'cldyn' "
                                 f"or 'vfn' (it returns the fusion); {self.model_name} has "
                                 f'model.mode={model.fusion_mode!r}')
            self.task: Optional[str] = model.adapter.task
        elif isinstance(model, BaseFuser):
            self.task = None
        else:
            raise TypeError(f'{self.model_name}: model.type {cfg.model.get("type")!r} is '
                            'neither a fuser (VFNFuser, CLDyNFuser) nor a fused task model '
                            '(FusedDetector, FusedSegmentor)')
        if weights:
            self.checkpoint_meta = load_model_weights(
                model, weights, self.trust_checkpoint, owner=self.model_name)
        elif not self._config_loads_weights(cfg):
            import warnings
            warnings.warn(f'{self.model_name}: no weights given; the results come from a '
                          'randomly initialised model')
        model.cfg = cfg
        return model.to(device).eval()

    @staticmethod
    def _config_loads_weights(cfg) -> bool:
        m = cfg.model
        fuser = m.get('fuser') or {}
        adapter = m.get('task_adapter') or {}
        return bool(
            m.get('vfn_checkpoint') or m.get('fuser_checkpoint') or fuser.get('vfn_checkpoint')
            or adapter.get('checkpoint'))

    def _init_pipeline(self, cfg) -> Compose:
        """Fusers: ``LoadIRVisPair`` + ``PackFusionInputs`` (as ``tools/fuse.py`` always did).
        Task models: the config's test pipeline (e.g. the detector's ``Resize``) without its
        annotation loaders, so images are prepared as in ``tools/test.py``."""
        if self.task is None:
            return Compose([dict(type='LoadIRVisPair'), dict(type='PackFusionInputs')])
        try:
            pipeline = cfg.test_dataloader.dataset.pipeline
        except AttributeError:
            pipeline = None
        if not pipeline:
            raise ValueError(f'{self.model_name}: a fused task model config needs '
                             'test_dataloader.dataset.pipeline (LoadIRVisPair, resizing, '
                             'PackPairedDetInputs / PackPairedSegInputs)')
        steps = [
            t for t in pipeline
            if not str(t.get('type', '')).split('.')[-1].endswith(_ANNOTATION_LOADERS)
        ]
        if str(steps[0].get('type', '')).split('.')[-1] != 'LoadIRVisPair':
            raise ValueError(f'{self.model_name}: the test pipeline must start with '
                             f"LoadIRVisPair, got {steps[0].get('type')!r}")
        return Compose(steps)

    def _init_collate(self, cfg):
        return pseudo_collate

    def _init_visualizer(self, cfg):
        """The config's visualizer when it is one of cldyn_mm's panel visualizers
        (``FusionVisualizer``, ``FusedDetVisualizer``, ``FusedSegVisualizer``), else a
        ``FusionVisualizer``; without vis backends (``visualize`` writes the files), and
        constructed directly, so it does not become MMEngine's current visualizer."""
        from cldyn_mm.visualization import FusionPanelMixin, FusionVisualizer
        vis_cfg = dict(cfg.get('visualizer') or {})
        vis_type = vis_cfg.pop('type', None)
        cls = VISUALIZERS.get(vis_type) if isinstance(vis_type, str) else vis_type
        if not (isinstance(cls, type) and issubclass(cls, FusionPanelMixin)):
            cls, vis_cfg = FusionVisualizer, {}
        vis_cfg.update(vis_backends=None, save_dir=None, name=f'cldyn_inferencer_{id(self)}')
        return cls(**vis_cfg)

    def _dataset_meta(self, cfg) -> dict:
        meta: dict = {}
        try:
            ds_cfg = cfg.test_dataloader.dataset
            meta.update(getattr(DATASETS.get(ds_cfg.type), 'METAINFO', None) or {})
            meta.update(ds_cfg.get('metainfo') or {})
        except (AttributeError, KeyError, TypeError):
            pass
        adapter = getattr(self.model, 'adapter', None)
        meta.update(getattr(adapter, 'dataset_meta', None) or {})
        meta.update(self.checkpoint_meta.get('dataset_meta') or {})
        return meta

    # ------------------------------------------------------------------ inputs
    def _inputs_to_list(self,
                        inputs=None,
                        ir: Optional[PathLike] = None,
                        vi: Optional[PathLike] = None) -> List[dict]:
        """Items ``dict(stem, ir_path | ir_img, vi_path | vis_img)`` of every pair.

        ``inputs``: a pair ``(ir, vi)`` of paths or arrays, a list of pairs, or a pair of
        folders; or ``ir=DIR, vi=DIR``. Folders pair their images by file stem."""
        if ir is not None or vi is not None:
            if inputs is not None:
                raise ValueError('give either inputs or the folders ir= / vi=, not both')
            if ir is None or vi is None:
                raise ValueError('ir= and vi= must be given together')
            return self._folder_items(ir, vi)
        if inputs is None:
            raise ValueError('no inputs: give a pair (ir, vi), a list of pairs, or folders '
                             'ir=DIR, vi=DIR')
        if _is_pair(inputs):
            if all(isinstance(x, (str, os.PathLike)) and osp.isdir(x) for x in inputs):
                return self._folder_items(*inputs)
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f'inputs must be a pair (ir, vi) or a list of pairs, got '
                            f'{type(inputs).__name__}')
        items = []
        for i, pair in enumerate(inputs):
            if not _is_pair(pair):
                raise TypeError(f'input {i}: expected a pair (ir, vi) of image paths or numpy '
                                f'arrays, got {type(pair).__name__}')
            item: dict = {}
            for x, key, what in zip(pair, ('ir', 'vi'), ('infrared', 'visible')):
                if isinstance(x, np.ndarray):
                    check_image_array(x, f'{what} array of input {i}')
                    item['ir_img' if key == 'ir' else 'vis_img'] = x
                    continue
                path = os.fspath(x)
                if not osp.isfile(path):
                    raise FileNotFoundError(f'{what} image not found: {path}')
                item[f'{key}_path'] = path
            path = item.get('vi_path') or item.get('ir_path')
            item['stem'] = osp.splitext(osp.basename(path))[0] if path else f'pair_{i:04d}'
            items.append(item)
        return items

    @staticmethod
    def _folder_items(ir: PathLike, vi: PathLike) -> List[dict]:
        ir, vi = os.fspath(ir), os.fspath(vi)
        ir_files, vi_files = list_images(ir), list_images(vi)
        stems = pair_by_stem(ir_files, vi_files, ir, vi)
        return [dict(stem=s, ir_path=ir_files[s], vi_path=vi_files[s]) for s in stems]

    # ------------------------------------------------------------------ workflow
    def preprocess(self,
                   inputs: List[dict],
                   batch_size: int = 1,
                   num_workers: int = 0) -> Iterator[Tuple[List[dict], dict]]:
        """Yield ``(items, data)`` per batch: pairs of equal size only (no padding, so a
        batched result equals the unbatched one), ``data`` collated for the model."""
        if batch_size < 1:
            raise ValueError(f'batch size must be >= 1, got {batch_size}')
        batches = size_batches(inputs, batch_size)
        loader = DataLoader(
            _ItemDataset(inputs, self.pipeline),
            batch_sampler=batches,
            num_workers=num_workers,
            collate_fn=self.collate_fn)
        for idx, data in zip(batches, loader):
            yield [inputs[i] for i in idx], data

    @torch.no_grad()
    def forward(self,
                inputs: dict,
                task_feat: Optional[torch.Tensor] = None,
                draw: bool = False) -> List[BaseDataElement]:
        """Run the model on one collated batch; returns one data sample per pair with
        ``fused_img`` (3, H, W) RGB in [0, 1] at the pair's original size, the predictions
        (task models) and, when available or drawn, ``ir_img``, ``vis_img``, ``vfn_img``,
        ``cldyn_img`` (same format)."""
        data = self.model.data_preprocessor(inputs, False)
        if self.task is None:
            return self._forward_fuser(data, task_feat, draw)
        if task_feat is not None:
            raise ValueError(f'{self.model_name} computes the task feature of each image '
                             'itself; task_feat is for fusion configs (a CLDyNFuser)')
        model = self.model
        saved = model.vis_panels, model.panel_predictions
        # in mode 'cldyn' the panel images cost nothing extra (VFN fusion and task feature
        # are computed anyway), so the plain VFN fusion is always returned there; the task
        # network predicts on every panel image only for drawing
        model.vis_panels = draw or model.fusion_mode == 'cldyn'
        model.panel_predictions = draw
        try:
            return model.predict(data['inputs'], data['data_samples'])
        finally:
            model.vis_panels, model.panel_predictions = saved

    def _forward_fuser(self, data: dict, task_feat, draw: bool) -> List[BaseDataElement]:
        model, inputs = self.model, data['inputs']
        kwargs = {}
        if task_feat is not None:
            kwargs['task_feat'] = task_feat.to(inputs['ir'].device)
        samples = model.postprocess(model.fuse(inputs, **kwargs), data['data_samples'])
        plain = None
        if draw and task_feat is not None:
            plain = model.fuse(inputs)['fused']
        for i, sample in enumerate(samples):
            sample.fused_img = sample.pred_fused
            if not draw:
                continue
            h, w = sample.pred_fused.shape[-2:]
            sample.ir_img = inputs['ir'][i, :, :h, :w].expand(3, -1, -1)
            sample.vis_img = inputs['vis'][i, :, :h, :w]
            if task_feat is None:
                sample.vfn_img = sample.pred_fused
            else:
                sample.vfn_img = plain[i, :, :h, :w]
                sample.cldyn_img = sample.pred_fused
        return samples

    def visualize(self,
                  inputs: List[dict],
                  preds: List[BaseDataElement],
                  draw: bool = False,
                  panel_dir: Optional[str] = None,
                  score_thr: float = 0.3) -> Optional[List[np.ndarray]]:
        """``IR | VIS | VFN | CLDyN`` panels (those available), each tile with the task
        network's predictions on that tile's image, (H, n*W + (n-1)*4, 3) uint8 **BGR**;
        written to ``panel_dir/<stem>.png`` when given. Drawn by the visualizer
        (``add_datasample``) the config chooses (see :meth:`_init_visualizer`)."""
        if not draw:
            return None
        self.visualizer.dataset_meta = self.dataset_meta
        panels = []
        for item, sample in zip(inputs, preds):
            rgb = self.visualizer.add_datasample(
                item['stem'], None, sample, draw_gt=False, pred_score_thr=score_thr)
            panel = np.ascontiguousarray(rgb[..., ::-1])
            if panel_dir:
                os.makedirs(panel_dir, exist_ok=True)
                write_image_atomic(osp.join(panel_dir, f"{item['stem']}.png"), panel)
            panels.append(panel)
        return panels

    def pred_to_dict(self, sample: BaseDataElement, stem: str) -> dict:
        """One pair's result as numpy arrays (see :meth:`__call__`)."""
        out = dict(stem=stem, fused=_to_bgr(sample.fused_img))
        if 'vfn_img' in sample and self.task is not None:
            out['vfn'] = _to_bgr(sample.vfn_img)
        if 'pred_instances' in sample:
            inst = sample.pred_instances
            out['bboxes'] = inst.bboxes.detach().float().cpu().numpy().reshape(-1, 4)
            out['scores'] = inst.scores.detach().float().cpu().numpy()
            out['labels'] = inst.labels.detach().cpu().numpy().astype(np.int64)
        if 'pred_sem_seg' in sample:
            out['sem_seg'] = sample.pred_sem_seg.data[0].detach().cpu().numpy().astype(np.int64)
        if 'pred_saliency' in sample:
            out['saliency'] = sample.pred_saliency.data[0].detach().float().cpu().numpy()
        return out

    def postprocess(self,
                    preds: List[BaseDataElement],
                    visualization=None,
                    return_datasamples: bool = False,
                    items: Sequence[dict] = (),
                    out_dir: Optional[str] = None,
                    ext: str = '.png',
                    pred_out=None,
                    return_results: bool = True) -> list:
        """Write the fused images (``out_dir/<stem><ext>``, atomically) and the predictions
        (``pred_out``, a writer of :mod:`.prediction_io`); return the per-pair results (data
        samples with ``return_datasamples``; nothing with ``return_results=False``)."""
        results = []
        for k, (item, sample) in enumerate(zip(items, preds)):
            stem = item['stem']
            if out_dir is not None:
                write_rgb(osp.join(out_dir, stem + ext), sample.fused_img)
            result = None
            if pred_out is not None or (return_results and not return_datasamples):
                result = self.pred_to_dict(sample, stem)
                if visualization is not None:
                    result['panel'] = visualization[k]
            if pred_out is not None:
                pred_out.add(stem, result)
            if return_results:
                results.append(sample if return_datasamples else result)
        return results

    def __call__(self,
                 inputs=None,
                 *,
                 ir: Optional[PathLike] = None,
                 vi: Optional[PathLike] = None,
                 batch_size: int = 1,
                 overwrite: bool = False,
                 return_datasamples: bool = False,
                 **kwargs) -> dict:
        """Fuse pairs; with a task model also predict on the customized fusion.

        Args:
            inputs: A pair ``(ir, vi)`` of image paths or numpy arrays (infrared (H, W),
                (H, W, 1) or (H, W, 3); visible (H, W, 3) BGR as ``cv2.imread`` gives it, or
                (H, W) grey; uint8, uint16, or float in [0, 1]), a list of such pairs, or a
                pair of folders. Stems: the visible file's stem; ``pair_XXXX`` (input index)
                for arrays.
            ir, vi (str): Instead of ``inputs``: two folders, paired by file stem.
            batch_size (int): Pairs per forward pass; only pairs of equal size are batched.
            overwrite (bool): With ``out_dir``: redo pairs whose output exists (default:
                skip them, which resumes an interrupted folder; not with ``pred_out``).
            return_datasamples (bool): Return the model's data samples instead of dicts.
            num_workers (int): Image loading workers. Defaults to 0.
            task_feat (Tensor, optional): Fusers only: one task feature (C, H, W) or
                (1, C, H, W) for every pair (a ``CLDyNFuser`` compensates with it).
            draw (bool): Make ``IR | VIS | VFN | CLDyN`` panels with the predictions.
            panel_dir (str, optional): Write the panels there as ``<stem>.png``.
            score_thr (float): Detection score threshold for drawing. Defaults to 0.3.
            out_dir (str, optional): Write the fused images as ``<stem><ext>``.
            ext (str): ``.png`` (default), ``.jpg``, ``.bmp`` or ``.tif``.
            pred_out (str, optional): Task models only: detection -> a COCO results JSON
                file; segmentation / SOD -> a folder of ``<stem>.png`` (see
                :mod:`cldyn_mm.apis.inferencers.prediction_io`).
            return_results (bool): Keep the per-pair results (False for large folders
                written to disk). Defaults to True.

        Returns:
            dict: ``predictions``: one dict per processed pair: ``stem``; ``fused`` (H, W, 3)
            uint8 **BGR** (``cv2.imwrite``-ready) at the pair's size; task models also
            ``vfn`` (the plain VFN fusion, mode ``'cldyn'`` or drawn) and the predictions on
            the fused image, at the pair's size: detection ``bboxes`` (N, 4) float32 x1, y1,
            x2, y2, ``scores`` (N,) float32, ``labels`` (N,) int64; segmentation ``sem_seg``
            (H, W) int64 class indices; SOD ``saliency`` (H, W) float32 in [0, 1] and
            ``sem_seg`` (H, W) 0/1; ``panel`` (BGR uint8) when drawn.
            ``visualization``: the panels (or None). ``written`` / ``skipped`` / ``total``:
            pair counts (skipped: output already in ``out_dir``).
        """
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        items = self._inputs_to_list(inputs, ir, vi)
        out_dir, ext = post.get('out_dir'), post.get('ext', '.png')
        pred_path = post.pop('pred_out', None)
        if pred_path is not None and self.task is None:
            raise ValueError(f'pred_out: {self.model_name} has no task network (a '
                             f'{type(self.model).__name__}); predictions need a fused task '
                             'model config (FusedDetector / FusedSegmentor)')
        ext = ext if ext.startswith('.') else '.' + ext
        if ext.lower() not in OUTPUT_EXTENSIONS:
            raise ValueError(f'output extension {ext!r} not supported; use one of '
                             f'{OUTPUT_EXTENSIONS}')
        post['ext'] = ext
        saving = out_dir is not None or pred_path is not None or vis.get('panel_dir')
        if saving:
            _check_unique_stems(items)
        total = len(items)
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
            if not overwrite and pred_path is None:
                items = [it for it in items if not osp.isfile(osp.join(out_dir, it['stem'] + ext))]
        writer = prediction_writer(self.task, pred_path) if pred_path is not None else None
        fwd['draw'] = vis.get('draw', False)
        bar = None
        if self.show_progress and items:
            from tqdm import tqdm
            bar = tqdm(total=len(items), unit='pair', desc='fusing')
        predictions, visualization = [], []
        try:
            for batch_items, data in self.preprocess(items, batch_size=batch_size, **pre):
                preds = self.forward(data, **fwd)
                panels = self.visualize(batch_items, preds, **vis)
                predictions += self.postprocess(
                    preds, panels, return_datasamples, items=batch_items, pred_out=writer, **post)
                if panels is not None and post.get('return_results', True):
                    visualization += panels
                if bar is not None:
                    bar.update(len(batch_items))
        finally:
            if bar is not None:
                bar.close()
        if writer is not None:
            writer.close()
        return dict(
            predictions=predictions,
            visualization=visualization if vis.get('draw') else None,
            written=len(items) if out_dir is not None else 0,
            skipped=total - len(items),
            total=total)


def _to_bgr(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] -> (H, W, 3) uint8 BGR (rounded as the written files)."""
    return np.ascontiguousarray(to_uint8_rgb(img)[..., ::-1])


def _check_unique_stems(items: Sequence[dict]) -> None:
    seen: Dict[str, dict] = {}
    for item in items:
        if item['stem'] in seen:
            a, b = seen[item['stem']], item
            raise ValueError(f"two pairs share the stem {item['stem']!r} "
                             f"({a.get('vi_path', 'array')} and {b.get('vi_path', 'array')}); "
                             'their output files would collide')
        seen[item['stem']] = item
