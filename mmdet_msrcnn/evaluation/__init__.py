from .mask_quality_metric import MaskQualityMetric

__all__ = ['MaskQualityMetric']
