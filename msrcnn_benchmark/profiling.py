"""torch.profiler and cProfile summaries, and Python call counts."""
import cProfile
import io
import os.path as osp
import pstats

from .detectors import make_predict, set_score_thr
from .inputs import make_batch


def python_calls_in_ours(fn) -> int:
    """Python function calls made inside ``mmdet_msrcnn`` while ``fn`` runs.
    """
    pkg = osp.join('mmdet_msrcnn', '')
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof)
    return sum(v[1] for k, v in st.stats.items() if pkg in k[0])


def cprofile_text(fn, top: int) -> str:
    """cProfile's ``top`` entries by cumulative time of one ``fn()``."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.strip_dirs().sort_stats('cumulative').print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if 'ncalls' in ln), 0)
    return '\n'.join(lines[max(0, start - 3):])


def profile_ours(models, steps, args, device, top=15) -> dict:
    """Profiles of our model's training step and inference.

    Args:
        models (dict[str, nn.Module]): The detectors; ``ours`` is profiled.
        steps (dict[str, TrainStep]): Their training steps.
        args (Namespace): ``size``, ``num_gt`` and ``seed`` of the run.
        device (torch.device): CUDA activity is recorded there too.
        top (int): Rows of the torch.profiler tables (cProfile: ``top +
            10``).

    Returns:
        dict[str, str]: ``torch_train``, ``torch_infer``,
        ``cprofile_train`` and ``cprofile_infer`` texts.
    """
    from torch.profiler import ProfilerActivity, profile
    ours = models['ours']
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    texts = {}
    step = steps['ours']
    step.reset()
    step()  # warm
    step.reset()
    with profile(activities=activities) as prof:
        step()
    texts['torch_train'] = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=top, max_name_column_width=40)
    data = make_batch(ours, 1, args.size, args.num_gt, args.seed, False)
    ours.eval()
    set_score_thr(ours, 0.0)
    predict = make_predict(ours, data)
    predict()
    with profile(activities=activities) as prof:
        predict()
    texts['torch_infer'] = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=top, max_name_column_width=40)
    for key, fn in (('cprofile_train', step), ('cprofile_infer', predict)):
        step.reset()
        ours.eval() if key == 'cprofile_infer' else ours.train()
        texts[key] = cprofile_text(fn, top + 10)
    return texts
