"""Live video: name the faces in a stream of frames without letting the display fall behind.

Two layers, neither tied to a UI framework:

- :class:`FrameProcessor` (:mod:`.tracking`) turns one frame into named faces. It detects on a
  downscaled copy of the frame, follows faces from frame to frame by box overlap (IoU) and runs
  the embedding only for a face that is new, has moved, or has not been checked for a while; a
  face that barely moved keeps its identity. One per video stream; not thread-safe by itself,
  but the :class:`~facerec_core.recognizer.Recognizer` it calls may be shared by many streams.
- :class:`LiveProcessor` (:mod:`.live`) puts a FrameProcessor on a worker thread that always
  takes the newest frame (older ones are dropped, never queued). :meth:`LiveProcessor.handle`
  returns at once: the incoming frame with the latest known boxes, names and the video and
  recognition rates drawn on it; boxes from a frame more than ``stale_after_s`` old are not drawn. :meth:`LiveProcessor.snapshot` is the thread-safe hand-off to a UI ("who is in
  view").

>>> live = LiveProcessor(recognizer, VideoConfig(min_face_size=60))   # doctest: +SKIP
>>> shown = live.handle(frame)            # from the video thread, for every frame
>>> live.snapshot().in_view               # from the UI thread, whenever it likes
>>> live.stop()

Test scenes (LFW photos on a canvas, YUV4MPEG2 files for Chromium's fake camera) live in
``tests/support/scenes.py``.
"""
from .live import InView, LiveProcessor, LiveStatus, rates_text
from .tracking import FrameProcessor, FrameResult, Track, VideoConfig, box_iou, detection_scale, match_boxes

__all__ = ["FrameProcessor", "FrameResult", "InView", "LiveProcessor", "LiveStatus", "Track", "VideoConfig",
           "box_iou", "detection_scale", "match_boxes", "rates_text"]
