"""Install cldyn_mm. The OpenMMLab stack itself is installed by tools/setup_env.sh, because
mmcv must be compiled against the installed torch; see README.md."""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'cldyn_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='cldyn_mm',
    version=read_version(),
    description='CLDyN task-customized infrared-visible image fusion for OpenMMLab',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read()
    if osp.exists(osp.join(osp.dirname(__file__), 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.0', 'mmengine>=0.10.0,<1.0', 'mmcv>=2.0.0,<2.2.0', 'mmdet>=3.0.0,<3.4.0',
        'mmsegmentation>=1.0.0,<1.3.0', 'numpy', 'opencv-python-headless', 'tqdm',
    ],
    # weights of the models in model-index.yml ship inside the package (docs/inference.md)
    package_data={'cldyn_mm': ['model_zoo/weights/*.pth', 'model_zoo/weights/README.md']},
    include_package_data=True,
    license='Apache License 2.0',
    zip_safe=False,
)
