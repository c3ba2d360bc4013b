"""A minimal PNG encoder (8-bit RGB, no filtering), numpy and zlib only.

The synthetic data sets write their images with it so that the bytes of a
file depend on the pixels and zlib alone, not on an image library's version.
"""
import struct
import zlib

import numpy as np

__all__ = ['encode_png', 'write_png']


def _chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, tag, data and the CRC of tag + data."""
    return (struct.pack('>I', len(data)) + tag + data +
            struct.pack('>I',
                        zlib.crc32(tag + data) & 0xFFFFFFFF))


def encode_png(img: np.ndarray) -> bytes:
    """Encode an RGB uint8 image as PNG bytes (8-bit truecolor).

    Args:
        img (np.ndarray): Image of shape (H, W, 3), dtype uint8.

    Returns:
        bytes: The PNG file's content.
    """
    h, w, _ = img.shape
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = img.reshape(h, 3 * w)
    header = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    return b''.join([
        b'\x89PNG\r\n\x1a\n',
        _chunk(b'IHDR', header),
        _chunk(b'IDAT', zlib.compress(raw.tobytes(), 6)),
        _chunk(b'IEND', b'')
    ])


def write_png(path: str, img: np.ndarray) -> None:
    """Write an RGB uint8 image as a PNG file.

    Args:
        path (str): Output file.
        img (np.ndarray): Image of shape (H, W, 3), dtype uint8.
    """
    png = encode_png(img)
    with open(path, 'wb') as f:
        f.write(png)
