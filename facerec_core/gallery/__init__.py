"""The enrolled-people gallery: enrolled people are recognised a moment after enrollment, without
retraining, and survive restarts.

- :mod:`.store`: :class:`GalleryStore`, one private SQLite file; :mod:`.schema`: its tables and
  migrations; :mod:`.health`: what :meth:`GalleryStore.check` finds.
- :mod:`.checks`: what is accepted (names, compared by :func:`name_key`; notes; embeddings of the
  backbone's size; JPEG/PNG thumbnails), for every write.
- :mod:`.transfer`: the export/import format (``facerec-gallery`` version 1), its specification
  and its limits.
- :mod:`.enroll`: photos → one good face each → stored samples (:func:`enroll`, or
  :func:`check_photos` then :func:`store_plan` to show the faces and confirm first).
- :mod:`.lookalike`: does a face to enroll look like someone known (:func:`compare_with_known`).
- :mod:`.search`: the gallery as an identity source (:class:`GallerySource`), which
  :meth:`facerec_core.recognizer.Recognizer.load` searches beside the trained model.

This package uses :mod:`facerec_core.identity`, faces and images; never the recognizer or training.
"""
from ..errors import EnrollmentError, GalleryError, PersonNotFoundError
from .checks import clean_name, name_key, thumbnail_problem
from .enroll import (EnrollmentPlan, EnrollmentPolicy, EnrollmentReport, FaceCrop, FacePipeline, PhotoCheck,
                     check_photo, check_photos, enroll, face_thumbnail, image_hash, prepare_sample, store_plan)
from .lookalike import LookAlike, Resemblance, compare_with_known
from .records import GalleryMatrix, ImportReport, NewSample, Person, Sample, SampleOutcome
from .search import GallerySource
from .store import DUPLICATE_COSINE, GALLERY_FILE, SCHEMA_VERSION, GalleryStore, gallery_path
from .transfer import EXPORT_FORMAT, EXPORT_VERSION, export_bytes, export_data, export_file, import_data, import_file

__all__ = ["DUPLICATE_COSINE", "EXPORT_FORMAT", "EXPORT_VERSION", "EnrollmentError", "EnrollmentPlan",
           "EnrollmentPolicy", "EnrollmentReport", "FaceCrop", "FacePipeline", "GALLERY_FILE", "GalleryError",
           "GalleryMatrix", "GallerySource", "GalleryStore", "ImportReport", "LookAlike", "NewSample", "Person",
           "PersonNotFoundError", "PhotoCheck", "Resemblance", "SCHEMA_VERSION", "Sample", "SampleOutcome",
           "check_photo", "check_photos", "clean_name", "compare_with_known", "enroll", "export_bytes", "export_data",
           "export_file", "face_thumbnail", "gallery_path", "image_hash", "import_data", "import_file", "name_key",
           "prepare_sample", "store_plan", "thumbnail_problem"]
