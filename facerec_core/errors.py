"""Exceptions raised by facerec_core. Every error names the input or file it is about."""
from __future__ import annotations


class FacerecError(Exception):
    """Base class for every error this library raises on purpose."""


class ImageError(FacerecError, ValueError):
    """An input could not be read as an image (not an image, corrupt, truncated, too large)."""


class ImageTooLargeError(ImageError):
    """An image has more bytes or pixels than the settings allow (FACEREC_MAX_IMAGE_BYTES,
    FACEREC_MAX_IMAGE_PIXELS): not broken, only too large to accept."""


class ModelNotFoundError(FacerecError, FileNotFoundError):
    """Model weights are missing; the message says how to provide them."""


class WeightsIntegrityError(FacerecError):
    """A weights file exists but is not the file we expect (hash mismatch, wrong content)."""


class ArtifactError(FacerecError):
    """Trained artifacts are missing, edited, or were made for another backbone."""


class NoTrainedModelError(ArtifactError):
    """No model has been trained into the artifacts folder yet (not an error for pages that work
    without one)."""


class DatasetError(FacerecError):
    """A dataset folder or protocol file is missing or malformed."""


class GalleryError(FacerecError):
    """The gallery refused an operation (bad name, unknown person, wrong backbone, bad file)."""


class PersonNotFoundError(GalleryError, KeyError):
    """No enrolled person by that name or id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EnrollmentError(FacerecError):
    """A photo was refused for enrollment; the message says why (no face, two faces, too small…)."""


class AccessError(FacerecError):
    """Access control refused something: a role too low, a failed sign-in, an ended session, a bad
    account change. Every message says what was refused and what to do instead."""


class NotAllowedError(AccessError, PermissionError):
    """The signed-in principal's role does not allow the action ("<what> needs the <role> role;
    <name> is <role>"). Raised by the one shared guard, :func:`facerec_core.access.guard.require`."""


class SignInError(AccessError):
    """A sign-in was refused: a wrong name or password (one message for both, so that names cannot
    be probed), a locked account, or an attempt made before the growing delay passed."""


class SessionExpiredError(AccessError):
    """A session token is unknown, ended by a sign-out, or idle longer than the session setting."""


class AccountError(AccessError, ValueError):
    """An account change was refused: a bad name, a weak password, an unknown or duplicate account,
    removing or demoting the last administrator, or a first administrator when one exists."""


class HistoryError(FacerecError):
    """The sightings (the history of decisions) cannot be read or written."""


class ApiError(FacerecError):
    """An API key, webhook or API setting was refused: a bad name or URL, an unknown or revoked
    key, a duplicate. The message says what to do instead."""
