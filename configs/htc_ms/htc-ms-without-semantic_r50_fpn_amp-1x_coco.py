# HTC (no semantic branch) with mask scoring, mixed precision (fp16 autocast
# with a dynamic loss scale). Needs a GPU (mmengine's AmpOptimWrapper refuses
# to build on a CPU-only machine); the MaskIoU targets and loss run in
# float32.
_base_ = './htc-ms-without-semantic_r50_fpn_1x_coco.py'

optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
