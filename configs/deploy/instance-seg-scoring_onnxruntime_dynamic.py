# mmdeploy deploy config: a mask scoring detector to ONNX Runtime, any
# input size (one image a call). As the static config, with dynamic height,
# width and number of detections; the image goes through the model's own
# test pipeline (keep-ratio resize), as in PyTorch.
_base_ = ['./instance-seg-scoring_onnxruntime_static-128x128.py']

onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input=dict({
            2: 'height',
            3: 'width'
        }),
        dets=dict({1: 'num_dets'}),
        labels=dict({1: 'num_dets'}),
        masks=dict({1: 'num_dets'}),
        mask_ious=dict({1: 'num_dets'})))
