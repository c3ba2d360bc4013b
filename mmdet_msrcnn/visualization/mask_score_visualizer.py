"""A detection visualizer that shows both scores of mask scoring."""
from mmdet.visualization import DetLocalVisualizer

from mmdet_msrcnn.registry import VISUALIZERS


@VISUALIZERS.register_module()
class MaskScoreVisualizer(DetLocalVisualizer):
    """Label each predicted instance with its class, box and mask scores.

    A prediction carrying ``mask_scores`` is labelled
    ``"<class> cls 0.91 mask 0.62"``: ``cls`` is the classification score
    (what ranks boxes), ``mask`` the mask score (classification score times
    predicted MaskIoU, what ranks masks). Other instances (ground truth,
    Mask R-CNN results) are drawn as by mmdet's ``DetLocalVisualizer``.
    Use it with ``visualizer=dict(type='mmdet_msrcnn.MaskScoreVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])``.
    """

    def _draw_instances(self, image, instances, classes, palette):
        if 'mask_scores' in instances and 'scores' in instances:
            instances = instances.clone()
            names = []
            for label, score, mask_score in zip(
                    instances.labels.tolist(), instances.scores.tolist(),
                    instances.mask_scores.tolist()):
                name = classes[label] if classes else f'class {label}'
                names.append(f'{name} cls {score:.2f} mask {mask_score:.2f}')
            instances.label_names = names
            del instances.scores
        return super()._draw_instances(image, instances, classes, palette)
