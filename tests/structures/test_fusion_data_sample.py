"""FusionDataSample: typed fields, conversion from mmdet / mmseg samples, what the packing
transform, the fusers and the fused task models return."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import BaseDataElement, InstanceData, PixelData
from mmseg.structures import SegDataSample

from cldyn_mm.registry import MODELS, TRANSFORMS
from cldyn_mm.structures import (PANEL_IMAGES, TASK_PREDICTION_FIELDS, FusionDataSample,
                                 prediction_sample)

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_typed_fields_accept_their_types_and_reject_others():
    s = FusionDataSample(metainfo=dict(stem='a', ori_shape=(4, 6)))
    for key, _ in PANEL_IMAGES:
        setattr(s, f'{key}_img', torch.rand(3, 4, 6))
    s.fused_img = s.cldyn_img
    s.pred_fused = torch.rand(3, 4, 6)
    s.pred_fused_y = torch.rand(1, 4, 6)
    s.pred_instances = InstanceData(
        bboxes=torch.rand(2, 4), scores=torch.rand(2), labels=torch.tensor([0, 1]))
    s.pred_sem_seg = PixelData(data=torch.zeros(1, 4, 6, dtype=torch.long))
    s.pred_saliency = PixelData(data=torch.rand(1, 4, 6))
    s.ir_pred = prediction_sample(s)
    assert set(s.keys()) == {
        'ir_img', 'vis_img', 'vfn_img', 'cldyn_img', 'fused_img', 'pred_fused', 'pred_fused_y',
        'pred_instances', 'pred_sem_seg', 'pred_saliency', 'ir_pred'
    }  # no private twins
    assert s.fused_img.shape == (3, 4, 6) and s.pred_fused_y.shape == (1, 4, 6)
    assert list(s.panel_images()) == ['ir', 'vis', 'vfn', 'cldyn']
    assert s.has_task_predictions()
    bad = [('ir_img', np.zeros((3, 4, 6))), ('pred_fused', [1.0]),
           ('pred_instances', dict(bboxes=torch.rand(1, 4))), ('pred_sem_seg', torch.zeros(1, 4,
                                                                                           6)),
           ('vis_pred', torch.zeros(1))]
    for field, value in bad:
        with pytest.raises(AssertionError):
            setattr(FusionDataSample(), field, value)


def test_dict_and_tensor_methods_keep_the_type():
    s = FusionDataSample(metainfo=dict(stem='a'))
    s.pred_fused = torch.rand(3, 2, 2)
    s.pred_instances = InstanceData(bboxes=torch.rand(1, 4))
    for copy in (s.clone(), s.cpu(), s.detach(), s.new()):
        assert type(copy) is FusionDataSample
        assert set(copy.keys()) == {'pred_fused', 'pred_instances'}
        assert copy.metainfo['stem'] == 'a'
    d = s.to_dict()
    assert set(d) == {'stem', 'pred_fused', 'pred_instances'}
    del s.pred_instances
    assert 'pred_instances' not in s and s.get('pred_instances') is None
    assert s.fused_image() is s.pred_fused
    s.fused_img = torch.zeros(3, 2, 2)
    assert s.fused_image() is s.fused_img  # a task model's image wins over pred_fused


def test_from_task_sample_carries_mmdet_and_mmseg_samples():
    det = DetDataSample(metainfo=dict(img_shape=(8, 8), ori_shape=(8, 8), stem='d'))
    det.gt_instances = InstanceData(bboxes=torch.rand(1, 4), labels=torch.tensor([2]))
    det.pred_instances = InstanceData(
        bboxes=torch.rand(3, 4), scores=torch.rand(3), labels=torch.tensor([0, 1, 2]))
    f = FusionDataSample.from_task_sample(det)
    assert isinstance(f, FusionDataSample) and f.metainfo == det.metainfo
    assert f.pred_instances is det.pred_instances and f.gt_instances is det.gt_instances
    assert FusionDataSample.from_task_sample(f) is f
    seg = SegDataSample(metainfo=dict(ori_shape=(8, 8)))
    seg.set_data(
        dict(
            pred_sem_seg=PixelData(data=torch.zeros(1, 8, 8, dtype=torch.long)),
            seg_logits=PixelData(data=torch.rand(4, 8, 8))))
    f = FusionDataSample.from_task_sample(seg)
    assert set(f.keys()) == {'pred_sem_seg', 'seg_logits'}
    preds = f.task_predictions()
    assert set(preds.keys()) == {'pred_sem_seg'} and preds.metainfo == f.metainfo
    assert set(TASK_PREDICTION_FIELDS) == {'pred_instances', 'pred_sem_seg', 'pred_saliency'}


def test_pack_fusion_inputs_and_fuser_outputs_are_fusion_samples():
    pack = TRANSFORMS.build(dict(type='PackFusionInputs'))
    img = np.random.default_rng(0).integers(0, 255, (12, 16, 4)).astype(np.float32)
    out = pack(dict(img=img, stem='x', ori_shape=(12, 16), img_shape=(12, 16)))
    assert isinstance(out['data_samples'], FusionDataSample)
    fuser = MODELS.build(
        dict(type='VFNFuser', fusion_net=dict(type='VFN', channels=4, num_blocks=1)))
    data = fuser.data_preprocessor(dict(inputs=[out['inputs']], data_samples=[out['data_samples']]))
    sample = fuser(**data, mode='predict')[0]
    assert isinstance(sample, FusionDataSample)
    assert sample.pred_fused.shape == (3, 12, 16) and sample.pred_fused_y.shape == (1, 12, 16)
    assert isinstance(sample, BaseDataElement)
