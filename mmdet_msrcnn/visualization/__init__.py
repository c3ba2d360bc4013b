from .mask_score_visualizer import MaskScoreVisualizer

__all__ = ['MaskScoreVisualizer']
