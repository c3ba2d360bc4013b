# mmdeploy deploy config: a mask scoring detector (MS R-CNN, Cascade MS
# R-CNN) to ONNX Runtime, one 128x128 image (the demo models' input).
# Outputs: dets (1, N, 5) boxes + classification score, labels (1, N),
# masks (1, N, 28, 28) the detected class's mask probability on its RoI (as
# mmdeploy's instance-seg models give them), mask_ious (1, N); the mask
# score is dets[..., 4] * mask_ious. The custom import registers our
# rewriters (mmdet_msrcnn/deployment); see docs/deployment.md.
custom_imports = dict(
    imports=['mmdet_msrcnn', 'mmdet_msrcnn.deployment'],
    allow_failed_imports=False)

onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    # RoiAlign with coordinate_transformation_mode='half_pixel' (mmcv's
    # aligned=True) needs opset 16
    opset_version=16,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels', 'masks', 'mask_ious'],
    input_shape=[128, 128],  # (width, height)
    # mmdeploy's graph optimiser needs its TorchScript extension, which
    # the 1.3.1 wheel does not build
    optimize=False)

codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    # mmdeploy's fallbacks; on ONNX Runtime our rewriters take the NMS
    # settings from the model's test_cfg (rpn, rcnn) as mmdet does
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1,
        # RoI masks (N, 28, 28); True pastes them into the input image
        export_postprocess_mask=False))

backend_config = dict(type='onnxruntime')
