from .mask_quality_metric import ORACLES, MaskQualityMetric

__all__ = ['ORACLES', 'MaskQualityMetric']
