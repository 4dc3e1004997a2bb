"""Frame sources: where frames come from (step 1, Capture, of the frame path).

All keep the `FrameSource` contract described in `fishgate.sources.base`.
`PicameraSource` imports picamera2 only when constructed, so this package imports
on any machine.
"""

from fishgate.sources.base import FrameSource, SourceBase
from fishgate.sources.opencv import OpenCVSource, mask_uri
from fishgate.sources.picam import PicameraSource
from fishgate.sources.replay import ReplaySource
from fishgate.sources.synthetic import SyntheticFish, SyntheticSource, write_video

__all__ = [
    "FrameSource",
    "OpenCVSource",
    "PicameraSource",
    "ReplaySource",
    "SourceBase",
    "SyntheticFish",
    "SyntheticSource",
    "mask_uri",
    "write_video",
]
