"""Class names and palettes of the generated demo data (``cldyn_mm.testing.demo_data``), read by
the demo datasets (``DemoDetDataset``, ``DemoSegDataset``, ``DemoSODDataset``)."""

#: Detection classes; COCO category id = index + 1.
DEMO_DET_CLASSES = ('person', 'car', 'sign')
#: RGB colours for drawing boxes of DEMO_DET_CLASSES.
DEMO_DET_PALETTE = ((220, 20, 60), (0, 90, 255), (230, 200, 0))
#: Semantic classes; the index is the pixel value in Segmentation_labels/.
DEMO_SEG_CLASSES = ('background', 'road', 'marking', 'person', 'car', 'sign')
#: RGB colour per semantic class (Cityscapes-like).
DEMO_SEG_PALETTE = ((0, 0, 0), (128, 64, 128), (255, 255, 255), (220, 20, 60), (0, 0, 142),
                    (220, 220, 0))
#: Semantic class ids that are salient (255 in saliency/).
DEMO_SALIENT_SEG_IDS = (3, 4, 5)
