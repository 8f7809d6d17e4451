"""Paired task datasets: loading (demo data, shared MSRS/M3FD, synthetic FMB/VT/M3FD/MSRS
layouts) and the clear errors on broken labels."""
import json

import cv2
import numpy as np
import pytest
from task_data_helpers import (OBJECTS, make_fmb_layout, make_m3fd_layout, make_seg_layout,
                               make_vt_layout, make_yolo_layout, render_pair, saliency_mask,
                               voc_xml, write)

from cldyn_mm.datasets import (DemoDetDataset, DemoSegDataset, DemoSODDataset, FMBSegDataset,
                               M3FDDataset, MSRSDetDataset, MSRSSegDataset, PairedCocoDetDataset,
                               PairedYOLODetDataset, VTSODDataset)
from cldyn_mm.testing.demo_data import generate_demo_dataset

DET_PIPE = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='PackPairedDetInputs')
]
SEG_PIPE = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs')
]


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    generate_demo_dataset(str(root), num_train=4, num_val=2, size=(96, 64), seed=1)
    return root


def _check_pair_input(inputs, ir_path, vi_path):
    x = inputs.numpy()
    assert x.shape[0] == 4 and x.dtype == np.float32
    np.testing.assert_array_equal(x[3], cv2.imread(ir_path, cv2.IMREAD_GRAYSCALE))
    np.testing.assert_array_equal(x[:3].transpose(1, 2, 0), cv2.imread(vi_path))


# ----------------------------------------------------------------------------- demo data
def test_demo_detection(demo_root):
    ds = DemoDetDataset(
        data_root=str(demo_root), ann_file='annotations/train.json', pipeline=DET_PIPE)
    assert len(ds) == 4 and ds.metainfo['classes'] == ('person', 'car', 'sign')
    coco = json.loads((demo_root / 'annotations' / 'train.json').read_text())
    for i in range(len(ds)):
        out = ds[i]
        meta = out['data_samples'].metainfo
        _check_pair_input(out['inputs'], meta['ir_path'], meta['vi_path'])
        img = next(im for im in coco['images'] if im['id'] == meta['img_id'])
        assert meta['stem'] + '.png' == img['file_name']
        anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
        expect = sorted([
            a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] +
            a['bbox'][3], a['category_id'] - 1
        ] for a in anns)
        gt = out['data_samples'].gt_instances
        got = sorted(b + [int(lab)]
                     for b, lab in zip(gt.bboxes.tensor.tolist(), gt.labels.tolist()))
        np.testing.assert_allclose(
            np.array(got, float).reshape(-1, 5),
            np.array(expect, float).reshape(-1, 5))


def test_demo_segmentation_and_saliency(demo_root):
    seg = DemoSegDataset(data_root=str(demo_root), ann_file='splits/val.txt', pipeline=SEG_PIPE)
    sod = DemoSODDataset(data_root=str(demo_root), ann_file='splits/val.txt', pipeline=SEG_PIPE)
    assert len(seg) == len(sod) == 2
    assert len(seg.metainfo['classes']) == 6
    assert sod.metainfo['classes'] == ('background', 'salient')
    for i in range(2):
        a, b = seg[i], sod[i]
        meta = a['data_samples'].metainfo
        _check_pair_input(a['inputs'], meta['ir_path'], meta['vi_path'])
        label = cv2.imread(str(demo_root / 'Segmentation_labels' / f"{meta['stem']}.png"), 0)
        sal = cv2.imread(str(demo_root / 'saliency' / f"{meta['stem']}.png"), 0)
        np.testing.assert_array_equal(a['data_samples'].gt_sem_seg.data[0].numpy(), label)
        np.testing.assert_array_equal(b['data_samples'].gt_sem_seg.data[0].numpy(),
                                      (sal > 127).astype(np.int64))


# ------------------------------------------------------------------- shared real data
def test_msrs_detection_yolo_matches_coco(shared_data):
    root = shared_data / 'det' / 'MSRS'
    ds = MSRSDetDataset(data_root=str(root), test_mode=True)
    assert len(ds) == 207 and ds.metainfo['classes'] == ('person', 'bicycle', 'car')
    # box totals of SOURCES.md: fusion 851 (514 person, 70 bicycle, 267 car)
    labels = np.concatenate([[i['bbox_label'] for i in ds.get_data_info(k)['instances']]
                             for k in range(len(ds))]).astype(int)
    assert np.bincount(labels, minlength=3).tolist() == [514, 70, 267]
    ir_set = MSRSDetDataset(data_root=str(root), label_set='ir', test_mode=True)
    assert sum(len(ir_set.get_data_info(k)['instances']) for k in range(207)) == 1026
    coco = PairedCocoDetDataset(
        data_root=str(root),
        ann_file='coco_fusion.json',
        data_prefix=dict(ir='ir', vi='vi'),
        test_mode=True)
    assert coco.metainfo['classes'] == ds.metainfo['classes']
    by_stem = {coco.get_data_info(k)['stem']: coco.get_data_info(k) for k in range(len(coco))}
    for k in range(len(ds)):
        a = ds.get_data_info(k)
        b = by_stem[a['stem']]
        assert ([i['bbox_label']
                 for i in a['instances']] == [i['bbox_label'] for i in b['instances']])
        if a['instances']:
            # the json's boxes are the same YOLO boxes rounded to 2 decimals
            np.testing.assert_allclose([i['bbox'] for i in a['instances']],
                                       [i['bbox'] for i in b['instances']],
                                       atol=0.011)
    ds.pipeline = ds.pipeline.__class__(DET_PIPE)
    out = ds[0]
    meta = out['data_samples'].metainfo
    assert out['inputs'].shape == (4, 480, 640)
    _check_pair_input(out['inputs'], meta['ir_path'], meta['vi_path'])
    assert len(out['data_samples'].gt_instances) == len(ds.get_data_info(0)['instances'])


def test_m3fd_xml_matches_coco(shared_data):
    root = shared_data / 'det' / 'M3FD'
    ds = M3FDDataset(data_root=str(root), pipeline=DET_PIPE)
    info = ds.get_data_info(0)
    names = [ds.metainfo['classes'][i['bbox_label']] for i in info['instances']]
    assert len(names) == 11 and names.count('Car') == 7 and names.count('People') == 4
    coco = PairedCocoDetDataset(data_root=str(root), ann_file='coco.json')
    assert coco.metainfo['classes'] == ds.metainfo['classes']
    np.testing.assert_allclose([i['bbox'] for i in info['instances']],
                               [i['bbox'] for i in coco.get_data_info(0)['instances']])
    out = ds[0]
    assert out['inputs'].shape == (4, 768, 1024)


# ------------------------------------------------------------- synthetic layouts
def test_fmb_layout(tmp_path):
    make_fmb_layout(tmp_path)
    ds = FMBSegDataset(data_root=str(tmp_path), split='test', pipeline=SEG_PIPE)
    assert len(ds) == 2 and len(ds.metainfo['classes']) == 15
    assert ds.metainfo['classes'][0] == 'background' and ds.metainfo['classes'][-1] == 'Pole'
    out = ds[0]
    assert '/test/Infrared/' in out['data_samples'].metainfo['ir_path']
    values = set(out['data_samples'].gt_sem_seg.data.unique().tolist())
    assert values == {0, 8, 9}
    # mmseg class subsets work as in mmseg (label_map)
    sub = FMBSegDataset(
        data_root=str(tmp_path),
        metainfo=dict(classes=('background', 'Person', 'Car')),
        pipeline=SEG_PIPE)
    assert set(sub[0]['data_samples'].gt_sem_seg.data.unique().tolist()) == {0, 1, 2}


def test_msrs_seg_layout(tmp_path):
    labels = make_seg_layout(tmp_path / 'train', 'ir', 'vi', 'Segmentation_labels')
    ds = MSRSSegDataset(data_root=str(tmp_path), split='train', pipeline=SEG_PIPE)
    assert len(ds) == 2 and ds.metainfo['classes'][3] == 'bike'
    np.testing.assert_array_equal(ds[1]['data_samples'].gt_sem_seg.data[0].numpy(), labels['s1'])


@pytest.mark.parametrize('split', ['Train', 'test'])
def test_vt5000_layout(tmp_path, split):
    make_vt_layout(tmp_path)
    ds = VTSODDataset(data_root=str(tmp_path), split=split, pipeline=SEG_PIPE)
    out = ds[0]
    meta = out['data_samples'].metainfo
    assert '/T/' in meta['ir_path'] and meta['vi_path'].endswith('.jpg')
    gt = out['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(gt, (saliency_mask(render_pair()[2]) > 127))
    gray = VTSODDataset(data_root=str(tmp_path), split=split, data_prefix=dict(ir='T_GRAY'))
    assert '/T_GRAY/' in gray.get_data_info(0)['ir_path']


def test_vt821_layout_and_t_gray_fallback(tmp_path):
    make_vt_layout(tmp_path, split_dirs=('', ), t_dirs=('T_GRAY', ))
    ds = VTSODDataset(data_root=str(tmp_path), pipeline=SEG_PIPE)
    assert len(ds) == 2 and '/T_GRAY/' in ds.get_data_info(0)['ir_path']
    assert ds[1]['inputs'].shape == (4, 48, 64)


def test_m3fd_release_layout(tmp_path):
    make_m3fd_layout(tmp_path)
    ds = M3FDDataset(data_root=str(tmp_path), pipeline=DET_PIPE)
    sample = ds[0]['data_samples']
    np.testing.assert_allclose(sample.gt_instances.bboxes.tensor.numpy(), [o[:4] for o in OBJECTS])
    assert sample.gt_instances.labels.tolist() == [0, 1]  # People, Car
    assert len(sample.ignored_instances) == 1  # the difficult Lamp


def test_yolo_classes_file_and_subset(tmp_path):
    make_yolo_layout(tmp_path, label_dir='labels')
    ds = PairedYOLODetDataset(data_root=str(tmp_path))
    assert ds.metainfo['classes'] == ('person', 'bicycle', 'car')
    assert [i['bbox_label'] for i in ds.get_data_info(0)['instances']] == [0, 1]
    sub = PairedYOLODetDataset(data_root=str(tmp_path), metainfo=dict(classes=('bicycle', )))
    inst = sub.get_data_info(0)['instances']
    assert [i['bbox_label']
            for i in inst] == [0] and inst[0]['bbox'] == list(map(float, OBJECTS[1][:4]))
    with pytest.raises(ValueError, match='tram'):
        PairedYOLODetDataset(data_root=str(tmp_path), metainfo=dict(classes=('tram', )))


# ------------------------------------------------------------------------ errors
def test_yolo_errors_name_file_and_line(tmp_path):
    make_yolo_layout(tmp_path, stems=('a', 'b'))
    lab = tmp_path / 'labels_yolo' / 'fusion'

    def build():
        return MSRSDetDataset(data_root=str(tmp_path))

    good = (lab / 'b.txt').read_text()
    (lab / 'b.txt').unlink()
    with pytest.raises(FileNotFoundError, match=r'label file missing.*fusion/b\.txt'):
        build()
    for bad, pattern in [('0 0.5 0.5 0.1', r'b\.txt:2: expected 5 fields'),
                         ('0 0.5 0.5 0.1 zz', r'b\.txt:2: non-numeric'),
                         ('3 0.5 0.5 0.1 0.1', r'b\.txt:2: class index 3'),
                         ('1.5 0.5 0.5 0.1 0.1', r'b\.txt:2: class index'),
                         ('0 0.95 0.5 0.2 0.1', r'b\.txt:2: box .* outside the 64x48 image'),
                         ('0 0.5 0.5 0 0.1', r'b\.txt:2: empty box')]:
        (lab / 'b.txt').write_text(good.splitlines()[0] + '\n' + bad + '\n')
        with pytest.raises(ValueError, match=pattern):
            build()
    (lab / 'b.txt').write_text(good)
    assert len(build()) == 2
    # a label folder holding only label sets must be chosen explicitly
    with pytest.raises(ValueError, match='sub-folders fusion'):
        PairedYOLODetDataset(data_root=str(tmp_path), data_prefix=dict(label='labels_yolo'))


def test_xml_errors(tmp_path):
    make_m3fd_layout(tmp_path)
    xml = tmp_path / 'Annotation' / 'p0.xml'
    xml.write_text(voc_xml([dict(name='Tram', x1=1, y1=1, x2=9, y2=9)]))
    with pytest.raises(ValueError, match=r"p0\.xml: object 0 .*unknown class 'Tram'"):
        M3FDDataset(data_root=str(tmp_path))
    assert M3FDDataset(
        data_root=str(tmp_path), unknown_classes='skip').get_data_info(0)['instances'] == []
    xml.write_text(voc_xml([dict(name='Car', x1=50, y1=1, x2=70, y2=9)]))
    with pytest.raises(ValueError, match=r'p0\.xml: object 0.*outside the 64x48 image'):
        M3FDDataset(data_root=str(tmp_path))
    xml.write_text('<annotation><object>')
    with pytest.raises(ValueError, match=r'p0\.xml: malformed XML'):
        M3FDDataset(data_root=str(tmp_path))
    xml.unlink()
    with pytest.raises(FileNotFoundError, match=r'label file missing.*p0\.xml'):
        M3FDDataset(data_root=str(tmp_path))


def test_coco_errors(tmp_path):
    ir, vis, _ = render_pair()
    write(tmp_path / 'ir' / 'a.png', ir)
    write(tmp_path / 'vi' / 'a.png', vis)
    coco = dict(
        images=[dict(id=1, file_name='a.png', width=64, height=48)],
        categories=[dict(id=1, name='person')],
        annotations=[
            dict(id=7, image_id=1, category_id=1, bbox=[50, 10, 30, 10], area=300, iscrowd=0)
        ])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    with pytest.raises(
            ValueError, match=r"ann\.json: annotation id 7 of image 'a\.png'.*"
            'outside'):
        PairedCocoDetDataset(data_root=str(tmp_path), ann_file='ann.json')
    coco['annotations'][0]['bbox'] = [50, 10, 14.5, 10]  # within the 1 px tolerance: clipped
    coco['images'].append(dict(id=2, file_name='b.png', width=64, height=48))
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    with pytest.raises(FileNotFoundError, match=r"image 'b\.png' .*no infrared file b\.\*"):
        PairedCocoDetDataset(data_root=str(tmp_path), ann_file='ann.json')
    coco['images'].pop()
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    ds = PairedCocoDetDataset(data_root=str(tmp_path), ann_file='ann.json')
    assert ds.get_data_info(0)['instances'][0]['bbox'] == [50, 10, 64, 20]


def test_segmentation_errors(tmp_path):
    make_seg_layout(tmp_path, 'ir', 'vi', 'Segmentation_labels', stems=('s0', 's1', 's2'))
    lab = tmp_path / 'Segmentation_labels'
    (lab / 's2.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'label file missing.*Segmentation_labels/s2'):
        MSRSSegDataset(data_root=str(tmp_path))
    write(lab / 's2.png', np.zeros((40, 64), np.uint8))  # wrong size
    ds = MSRSSegDataset(data_root=str(tmp_path), pipeline=SEG_PIPE)
    ds[0]
    with pytest.raises(
            ValueError, match=r's2\.png is 64x40 but the image pair .*s2\.png is '
            '64x48'):
        ds[2]
    write(lab / 's2.png', np.full((48, 64), 9, np.uint8))  # class 9 of 9 classes (0..8)
    with pytest.raises(ValueError, match=r's2\.png: class id\(s\) \[9\] outside 0\.\.8'):
        ds[2]
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[..., 2] = 3
    write(lab / 's2.png', colour)
    with pytest.raises(ValueError, match=r's2\.png: colour label image'):
        ds[2]
