"""Packaging shim: metadata lives in setup.cfg.

A non-editable install also ships the configs and tools under
``mmdet_msrcnn/.mim`` so that ``mim train mmdet_msrcnn <config>`` finds them.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))


class BuildPyWithMim(build_py):
    """Copy ``configs/`` and ``tools/`` into the package's ``.mim`` folder."""

    def run(self):
        super().run()
        mim_dir = osp.join(self.build_lib, 'mmdet_msrcnn', '.mim')
        for name in ('configs', 'tools'):
            src = osp.join(HERE, name)
            dst = osp.join(mim_dir, name)
            if osp.isdir(dst):
                shutil.rmtree(dst)
            if osp.isdir(src):
                os.makedirs(mim_dir, exist_ok=True)
                shutil.copytree(src, dst)


setup(cmdclass={'build_py': BuildPyWithMim})
