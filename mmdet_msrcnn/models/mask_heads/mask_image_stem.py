"""The pixels under each mask, for the MaskIoU head's ``image_input``.

The MaskIoU head sees the RoI feature (stride 4 or more) and the predicted
mask; whether the mask follows the object's boundary is written in the
pixels, at the mask's own resolution. On nuclei three fixed image cues
(contrast with a ring around the mask, IoU with the Otsu blob under it,
boundary gradient) recover 3.7 to 4.6 points of headroom the head misses
(docs/ranking.md). :class:`MaskImageStem` lets the head learn such cues: it
RoIAligns the network-input image on each RoI, enlarged by ``context``
mask cells on every side so the ring around the object is in view, at the
mask's resolution, stacks the crop with the predicted mask (zero-padded to
the same grid), and brings both to the RoI-feature grid with two 3x3
convolutions (the second with stride 2), the central ``S x S`` cells of
which join the head's input.

Two options aim at the one fixed cue the learned stem was measured to miss
(docs/ranking.md: the contrast between the *binarised* mask and a thin
ring around it): ``binary_mask`` adds the mask binarised at ``mask_thr``
as a second mask plane of the convolutions, and ``ring_contrast`` adds,
per image channel, that contrast computed on the crop's grid, as constant
planes of the output.
"""
import torch
import torch.nn.functional as F
from mmcv.ops import roi_align
from torch import Tensor, nn

#: Least per-RoI standard deviation of a crop (normalised-image units) when
#: ``normalize=True``: a flat crop is not amplified into noise.
MIN_CROP_STD = 0.01
#: Added to the two standard deviations of ``ring_contrast`` (the
#: normalised crop's units), as the fixed cue adds to its own.
RING_CONTRAST_EPS = 0.05


class MaskImageStem(nn.Module):
    """Image crops under the masks, convolved to the RoI-feature grid.

    Args:
        roi_feat_size (int): Side S of the MaskIoU head's RoI feature. The
            stem works on the ``M x M`` grid of a mask of side M = 2S (the
            paper's 28 for S = 14); a mask of another size (PointRend's
            coarse or refined ones) is resized to it.
        in_channels (int): Channels of the network input. Defaults to 3.
        out_channels (int): Channels added to the MaskIoU head's input.
            Defaults to 16.
        context (int): Mask cells of image added on every side of the RoI
            (even, so the stride-2 grid stays aligned). Defaults to 4 (the
            crop covers 1 + 2 x 4 / 28 = 1.29 times the box on a 28 mask).
        normalize (bool): Standardise each crop per channel (its mean and
            standard deviation over the crop), so the head sees the
            contrast under the mask rather than the image's brightness.
            Defaults to True.
        binary_mask (bool): Also give the convolutions the mask binarised
            at ``mask_thr`` (the final mask, whose IoU the head predicts).
            Defaults to False.
        ring_contrast (bool): Add ``in_channels`` constant planes: per
            channel, (mean inside the binarised mask - mean over the ring of
            ``ring`` cells around it) / (the two standard deviations +
            ``RING_CONTRAST_EPS``), on the crop's grid; 0 for an empty
            mask or ring. Defaults to False.
        ring (int): Width in mask cells of that ring. Defaults to 2.
        mask_thr (float): The mask's binarisation threshold (the test
            config's ``mask_thr_binary``). Defaults to 0.5.
    """

    def __init__(self,
                 roi_feat_size: int,
                 in_channels: int = 3,
                 out_channels: int = 16,
                 context: int = 4,
                 normalize: bool = True,
                 binary_mask: bool = False,
                 ring_contrast: bool = False,
                 ring: int = 2,
                 mask_thr: float = 0.5) -> None:
        super().__init__()
        for name, value, least in (('in_channels', in_channels, 1),
                                   ('out_channels', out_channels, 1),
                                   ('context', context, 0),
                                   ('ring', ring, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(
                    f'MaskIoUHead image_input {name}={value!r} must be an '
                    f'int >= {least}.')
        if context % 2:
            raise ValueError(
                f'MaskIoUHead image_input context={context} must be even: '
                'the stride-2 convolution keeps the mask cells aligned '
                'only then.')
        self.mask_size = 2 * roi_feat_size
        self.roi_feat_size = roi_feat_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.context = context
        if not 0. < float(mask_thr) < 1.:
            raise ValueError(f'MaskIoUHead image_input mask_thr={mask_thr!r} '
                             'must be a probability in (0, 1).')
        self.normalize = bool(normalize)
        self.binary_mask = bool(binary_mask)
        self.ring_contrast = bool(ring_contrast)
        self.ring = ring
        self.mask_thr = float(mask_thr)
        self.grid_size = self.mask_size + 2 * context
        mask_planes = 2 if self.binary_mask else 1
        self.conv = nn.Conv2d(in_channels + mask_planes, out_channels, 3,
                              padding=1)
        self.conv_down = nn.Conv2d(
            out_channels, out_channels, 3, stride=2, padding=1)

    @property
    def num_planes(self) -> int:
        """Planes the stem adds to the MaskIoU head's input."""
        return self.out_channels + (self.in_channels
                                    if self.ring_contrast else 0)

    def crop(self, image: Tensor, rois: Tensor) -> Tensor:
        """RoIAlign the image on each RoI enlarged by the context.

        Args:
            image (Tensor): The network input, (B, C, H, W).
            rois (Tensor): (N, 5) RoIs (image index, x1, y1, x2, y2) in
                network-input pixels.

        Returns:
            Tensor: (N, C, G, G) crops, G = ``mask_size + 2 * context``;
            the central M x M cells lie on the RoI's mask cells.
        """
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(
                f'MaskIoUHead image_input expects the network input as '
                f'(B, {self.in_channels}, H, W), got '
                f'{tuple(image.shape)}; set image_input.in_channels to '
                'its channels.')
        if rois.dim() != 2 or rois.shape[1] != 5:
            raise ValueError('MaskIoUHead image_input needs (N, 5) RoIs '
                             '(image index, x1, y1, x2, y2); got shape '
                             f'{tuple(rois.shape)}.')
        scale = self.grid_size / self.mask_size
        centres = (rois[:, 1:3] + rois[:, 3:5]) * 0.5
        halves = (rois[:, 3:5] - rois[:, 1:3]) * (0.5 * scale)
        grown = torch.cat(
            [rois[:, :1], centres - halves, centres + halves], dim=1)
        return roi_align(image, grown.to(image.dtype),
                         (self.grid_size, self.grid_size), 1.0, 2, 'avg',
                         True)

    def forward(self, crops: Tensor, mask_probs: Tensor) -> Tensor:
        """The image planes of the MaskIoU head's input.

        Args:
            crops (Tensor): :meth:`crop`'s output, (N, C, G, G).
            mask_probs (Tensor): The target class's mask probability,
                (N, 1, M', M'), any square size (resized to M).

        Returns:
            Tensor: (N, :attr:`num_planes`, S, S): the convolved planes,
            then with ``ring_contrast`` one constant plane per channel.
        """
        num = mask_probs.shape[0]
        want = (num, self.in_channels, self.grid_size, self.grid_size)
        if tuple(crops.shape) != want:
            raise ValueError(
                f'MaskIoUHead image_input got image crops of shape '
                f'{tuple(crops.shape)}, expected {want} (one crop per RoI '
                'from MaskIoUHead.crop_image).')
        crops = crops.to(mask_probs.dtype)
        if self.normalize:
            mean = crops.mean(dim=(2, 3), keepdim=True)
            std = crops.std(dim=(2, 3), keepdim=True).clamp(min=MIN_CROP_STD)
            crops = (crops - mean) / std
        if mask_probs.shape[-1] != self.mask_size:
            mask_probs = F.interpolate(
                mask_probs, size=(self.mask_size, self.mask_size),
                mode='bilinear', align_corners=False)
        pad = self.context
        mask_plane = F.pad(mask_probs, (pad, pad, pad, pad))
        planes = [crops, mask_plane]
        if self.binary_mask or self.ring_contrast:
            binary = (mask_plane >= self.mask_thr).to(mask_plane.dtype)
        if self.binary_mask:
            planes.append(binary)
        x = F.relu(self.conv(torch.cat(planes, dim=1)))
        x = F.relu(self.conv_down(x))
        start = pad // 2
        size = self.roi_feat_size
        x = x[:, :, start:start + size, start:start + size]
        if self.ring_contrast:
            contrast = ring_contrast(crops, binary, self.ring)
            x = torch.cat([x, contrast[:, :, None, None].expand(
                -1, -1, size, size)], dim=1)
        return x


def ring_contrast(crops: Tensor, binary: Tensor, ring: int) -> Tensor:
    """Contrast of each crop between a binary mask and the ring around it.

    Args:
        crops (Tensor): (N, C, G, G) image crops.
        binary (Tensor): (N, 1, G, G) the mask, 0 or 1.
        ring (int): Width of the ring in cells (the mask dilated by a
            (2 ring + 1) square, less the mask).

    Returns:
        Tensor: (N, C) ``(mean inside - mean on the ring) / (std inside +
        std on the ring + RING_CONTRAST_EPS)``, 0 where the mask or the
        ring is empty.
    """
    dilated = F.max_pool2d(binary, 2 * ring + 1, stride=1, padding=ring)
    band = dilated - binary

    def moments(weight):
        count = weight.sum(dim=(2, 3))
        mean = (crops * weight).sum(dim=(2, 3)) / count.clamp(min=1)
        var = ((crops - mean[:, :, None, None])**2 * weight).sum(
            dim=(2, 3)) / count.clamp(min=1)
        return count, mean, var.clamp(min=0).sqrt()

    n_in, mean_in, std_in = moments(binary)
    n_ring, mean_ring, std_ring = moments(band)
    contrast = (mean_in - mean_ring) / (std_in + std_ring + RING_CONTRAST_EPS)
    valid = (n_in > 0) & (n_ring > 0)
    return torch.where(valid, contrast, torch.zeros_like(contrast))
