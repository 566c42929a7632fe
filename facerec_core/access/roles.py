"""Roles, actions and the one table that says which role each action needs.

:data:`REQUIRED_ROLE` is the single source of truth: the guard (:func:`.guard.require`) reads it,
the tests walk it action by action for every role, and the README's table is generated from it
(:func:`role_table`). Roles are ordered — viewer < operator < admin — and a role may do what the
roles below it may, so one entry per action is enough and no action can be forgotten for a role.
"""
from __future__ import annotations

import enum


class Role(str, enum.Enum):
    """Who someone is to the system. ``str`` so that it is stored and shown as its value."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @classmethod
    def parse(cls, value: "Role | str") -> "Role":
        """``value`` as a Role; raises ValueError naming the valid roles (for CLI and forms)."""
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown role {value!r}: use one of {', '.join(r.value for r in cls)}") from None


class Action(str, enum.Enum):
    """Everything the dashboard or the CLI can be asked to do that access control decides on."""

    VIEW_HOME = "view_home"
    VIEW_METRICS = "view_metrics"
    VIEW_DATASET = "view_dataset"
    RECOGNIZE = "recognize"
    VERIFY = "verify"
    LIVE_WEBCAM = "live_webcam"
    AUTHENTICATE = "authenticate"
    VIEW_HISTORY = "view_history"
    CORRECT_DECISIONS = "correct_decisions"
    VIEW_GALLERY = "view_gallery"
    ENROLL = "enroll"
    RENAME = "rename"
    EDIT_NOTES = "edit_notes"
    DELETE_PERSON = "delete_person"
    DELETE_SAMPLE = "delete_sample"
    EXPORT = "export"
    IMPORT = "import"
    TRAIN = "train"
    RETRAIN = "retrain"
    DEPLOY_MODEL = "deploy_model"
    CHANGE_THRESHOLDS = "change_thresholds"
    MANAGE_USERS = "manage_users"
    MANAGE_API = "manage_api"
    VIEW_AUDIT = "view_audit"


RANK: dict[Role, int] = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
"""Higher ranks may do everything lower ranks may."""

REQUIRED_ROLE: dict[Action, Role] = {
    # viewer and up: the model's figures and the data it was trained on, no faces of enrolled people
    Action.VIEW_HOME: Role.VIEWER,
    Action.VIEW_METRICS: Role.VIEWER,
    Action.VIEW_DATASET: Role.VIEWER,
    # operator and up: decisions about faces, no changes to people or models
    Action.RECOGNIZE: Role.OPERATOR,
    Action.VERIFY: Role.OPERATOR,
    Action.LIVE_WEBCAM: Role.OPERATOR,
    Action.AUTHENTICATE: Role.OPERATOR,
    Action.VIEW_HISTORY: Role.OPERATOR,
    # admin only: the enrolled people (biometric data), models, thresholds, accounts, the trail
    Action.VIEW_GALLERY: Role.ADMIN,
    Action.CORRECT_DECISIONS: Role.ADMIN,
    Action.ENROLL: Role.ADMIN,
    Action.RENAME: Role.ADMIN,
    Action.EDIT_NOTES: Role.ADMIN,
    Action.DELETE_PERSON: Role.ADMIN,
    Action.DELETE_SAMPLE: Role.ADMIN,
    Action.EXPORT: Role.ADMIN,
    Action.IMPORT: Role.ADMIN,
    Action.TRAIN: Role.ADMIN,
    Action.RETRAIN: Role.ADMIN,
    Action.DEPLOY_MODEL: Role.ADMIN,
    Action.CHANGE_THRESHOLDS: Role.ADMIN,
    Action.MANAGE_USERS: Role.ADMIN,
    Action.MANAGE_API: Role.ADMIN,
    Action.VIEW_AUDIT: Role.ADMIN,
}

LABELS: dict[Action, str] = {
    Action.VIEW_HOME: "opening Home",
    Action.VIEW_METRICS: "opening Model Metrics",
    Action.VIEW_DATASET: "opening Dataset Explorer",
    Action.RECOGNIZE: "recognizing faces",
    Action.VERIFY: "verifying faces",
    Action.LIVE_WEBCAM: "the live webcam",
    Action.AUTHENTICATE: "authenticating people at the camera",
    Action.VIEW_HISTORY: "the decision history",
    Action.CORRECT_DECISIONS: "correcting decisions",
    Action.VIEW_GALLERY: "opening the Gallery",
    Action.ENROLL: "enrolling people",
    Action.RENAME: "renaming people",
    Action.EDIT_NOTES: "editing notes",
    Action.DELETE_PERSON: "deleting people",
    Action.DELETE_SAMPLE: "deleting photos of people",
    Action.EXPORT: "exporting the gallery",
    Action.IMPORT: "importing a gallery",
    Action.TRAIN: "training a model",
    Action.RETRAIN: "retraining with the gallery",
    Action.DEPLOY_MODEL: "deploying a model version",
    Action.CHANGE_THRESHOLDS: "changing thresholds",
    Action.MANAGE_USERS: "managing accounts",
    Action.MANAGE_API: "managing API keys and webhooks",
    Action.VIEW_AUDIT: "the audit trail",
}
"""What each action is called in a refusal ("exporting the gallery needs the admin role; …")."""

GUARDS: dict[Action, str] = {
    Action.VIEW_HOME: "Home page",
    Action.VIEW_METRICS: "Model Metrics page",
    Action.VIEW_DATASET: "Dataset Explorer page",
    Action.RECOGNIZE: "Recognize page; `predict`",
    Action.VERIFY: "Verify page; `verify`",
    Action.LIVE_WEBCAM: "Live Webcam page",
    Action.AUTHENTICATE: "Authenticate page (a liveness challenge at the camera)",
    Action.VIEW_HISTORY: "History page (sightings, search by photo)",
    Action.CORRECT_DECISIONS: "History and Recognize pages (not this person, this is NAME; merge, split and move "
                              "faces of the frequent visitors)",
    Action.VIEW_GALLERY: "Gallery page; `people`",
    Action.ENROLL: "Gallery page (enroll, add photos); `enroll`",
    Action.RENAME: "Gallery page (rename)",
    Action.EDIT_NOTES: "Gallery page (notes)",
    Action.DELETE_PERSON: "Gallery page (delete person); `forget`",
    Action.DELETE_SAMPLE: "Gallery page (delete photo)",
    Action.EXPORT: "Gallery page (export); `export`",
    Action.IMPORT: "Gallery page (import); `import`",
    Action.TRAIN: "Home page (train); `train`",
    Action.RETRAIN: "Gallery page (retrain now); `retrain`",
    Action.DEPLOY_MODEL: "Home page (deploy version); `models use`",
    Action.CHANGE_THRESHOLDS: "Recognize, Verify and Live Webcam pages (a custom threshold)",
    Action.MANAGE_USERS: "Accounts page; `user add/list/remove/passwd/unlock/role`",
    Action.MANAGE_API: "Accounts page (API keys, webhooks); `key add/list/revoke`, `webhook add/list/remove`",
    Action.VIEW_AUDIT: "Audit page; `audit list`, `audit verify`",
}
"""Where each action is guarded, for the README's table (documentation only)."""


def allowed(role: Role | str, action: Action | str) -> bool:
    """Whether ``role`` may do ``action``: its rank reaches the rank the action needs. An unknown
    action is never allowed (a typo must not open anything)."""
    try:
        needed = REQUIRED_ROLE[Action(action)]
        return RANK[Role(role)] >= RANK[needed]
    except (ValueError, KeyError):
        return False


def role_table() -> list[tuple[str, str, str]]:
    """``(action, role needed, where it is guarded)`` for every action, lowest role first: the
    README's table, generated so that it cannot drift from :data:`REQUIRED_ROLE`."""
    order = sorted(REQUIRED_ROLE, key=lambda a: (RANK[REQUIRED_ROLE[a]], list(Action).index(a)))
    return [(a.value, REQUIRED_ROLE[a].value, GUARDS.get(a, "")) for a in order]
