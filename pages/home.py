"""Home: what facerec is, the state of the model, what to do next, and training from the UI."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import streamlit as st

from dashboard.data import artifacts_fingerprint, lfw_people, model_report
from dashboard.auth import check, may, principal_now
from dashboard.page import page_preamble
from dashboard.plain import code, plain
from dashboard.training_job import (CANCELLED, CANCELLING, DONE, FAILED, TrainingStatus, after_training,
                                    get_training_job)
from facerec_core.access import REQUIRED_ROLE, Action
from facerec_core.access.guarded import authorize_deploy, authorize_training
from facerec_core.artifacts import read_manifest
from facerec_core.errors import AccessError, ArtifactError, DatasetError
from facerec_core.model_compare import TRAINING_DATA_CAVEAT, compare, user_figures
from facerec_core.settings import Settings
from facerec_core.training import TrainConfig
from facerec_core.versions import list_versions, load_version, use_version

log = logging.getLogger("pages.home")


@st.cache_data(max_entries=4, show_spinner=False)
def _manifest(artifacts_dir: str, fingerprint: str | None) -> dict:
    return read_manifest(Path(artifacts_dir))


def model_manifest(settings: Settings) -> tuple[dict | None, str | None]:
    """The manifest of the trained model (``None`` when there is none, or it is unreadable) and,
    when there is one that cannot be read, why."""
    fingerprint = artifacts_fingerprint(settings.artifacts_dir)
    if fingerprint is None:
        return None, None
    try:
        return _manifest(str(settings.artifacts_dir), fingerprint), None
    except ArtifactError as exc:
        log.warning("%s", exc)
        return None, str(exc)


def runtime_summary(settings: Settings) -> str:
    """Where the models run, from the device, precision and thread settings (FACEREC_DEVICE,
    FACEREC_PRECISION, FACEREC_THREADS), in one line for a caption."""
    from facerec_core.runtime import interactive_threads
    from facerec_core.settings import resolve_device, resolve_precision

    try:
        device = resolve_device(settings.device)
        precision = resolve_precision(settings.precision, device)
    except ValueError as exc:
        return f"Device settings cannot be used: {plain(exc)}"
    return (f"Runs on **{plain(device)}** (setting {code(settings.device)}), embeddings in {plain(precision)}, "
            f"{interactive_threads(settings.threads)} thread(s) per request, {settings.workers} worker "
            "process(es) for bulk work. Change with FACEREC_DEVICE, FACEREC_PRECISION, FACEREC_THREADS "
            "and FACEREC_WORKERS.")


def _when(created: str | None) -> str:
    if not created:
        return "unknown date"
    try:
        return dt.datetime.fromisoformat(created).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return created


def _percent(value) -> str:
    return "–" if value is None else f"{float(value):.1%}"


KNOWN_REJECTED = 'Known called "unknown"'
STRANGERS_NAMED = "Strangers given a name"


def _count(value) -> str:
    # Manifests written by other versions may lack a field: show "?" rather than fail.
    return f"{value:,}" if isinstance(value, int) else "?"


# ---- the page ---------------------------------------------------------------------------------
WHERE = "Home page"
home = page_preamble("facerec", action=Action.VIEW_HOME, page="Home", needs_recognizer=False)
settings, principal, access = home.settings, home.principal, home.access
may_train, may_deploy = may(principal, Action.TRAIN), may(principal, Action.DEPLOY_MODEL)


def _needs(action: Action) -> str:
    return f"needs the {REQUIRED_ROLE[action].value} role; you are {principal.role.value}"


job = get_training_job()
st.markdown(
    "Offline face recognition: every face in a photo is **detected** (MTCNN), **embedded** "
    "(by default FaceNet and dlib's networks together turn it into a vector) and **identified** "
    "against the people the model was trained on, or called *unknown* when it is not close enough to anyone. "
    "Nothing leaves this machine.")

# ---- the model --------------------------------------------------------------------------------
manifest, unreadable = model_manifest(settings)
report, report_error = None, None
if manifest:
    # The recognizer refuses a model it cannot trust or use; say so here rather than let it go quiet.
    try:
        _, report = model_report(settings)
    except ArtifactError as exc:
        report_error = str(exc)
st.subheader("The model")
if manifest:
    metrics = manifest.get("metrics", {})
    data = manifest.get("training_data", {})
    figures = user_figures(report)
    cols = st.columns(4)
    # Metric values are Markdown too: what the manifest says is shown as plain text.
    cols[0].metric("People known", _count(manifest.get("classes", data.get("people"))))
    if figures is not None:
        cols[1].metric(KNOWN_REJECTED, _percent(figures.known_rejected),
                       help="Photos of people the model knows that it answers \"unknown\", at the deployed threshold")
        cols[2].metric(STRANGERS_NAMED, _percent(figures.strangers_named),
                       help="Photos of people it was never shown that it gives someone's name, at the deployed threshold")
    else:
        cols[1].metric(KNOWN_REJECTED, "not measured")
        cols[2].metric(STRANGERS_NAMED, "not measured")
    view2 = metrics.get("view2_accuracy_normalised", metrics.get("view2_accuracy"))
    if view2 is not None:
        cols[3].metric("LFW verification", _percent(view2), help="View-2 pairs, 10 folds")
    else:
        cols[3].metric("Identifier", plain(str(manifest.get("identifier", "?")).upper()))
    if figures is not None:
        threshold = "" if figures.threshold is None else f" (score {figures.threshold:.3f})"
        st.markdown(
            f"At the deployed threshold{threshold}, **{_percent(figures.known_rejected)}** of the photos of known "
            f"people come out *unknown* and **{_percent(figures.strangers_named)}** of strangers are given a "
            f"name (measured on {figures.n_known:,} held-out photos of known people and {figures.n_unknown:,} "
            f"strangers). When everyone shown is known, {_percent(metrics.get('accuracy'))} of photos get the "
            "right name (closed-set accuracy, held-out 20%).")
    else:
        st.markdown(f"Closed-set accuracy {_percent(metrics.get('accuracy'))} (held-out 20%, everyone shown is "
                    "known). How often strangers get a name was not measured: retrain with strangers for the "
                    "open-set test.")
    st.caption(TRAINING_DATA_CAVEAT)
    st.caption(f"{plain(manifest.get('backbone', '?'))} backbone, {plain(str(manifest.get('identifier', '?')).upper())} "
               f"identifier, version {plain(manifest.get('version', 'legacy'))}, trained "
               f"{plain(_when(manifest.get('created')))} on {_count(data.get('images'))} images of "
               f"{_count(data.get('people'))} people ({plain(data.get('source', 'LFW'))}, at least "
               f"{plain(data.get('min_images', '?'))} images each). Models live in {code(settings.artifacts_dir)}.")
    if report_error:
        st.warning(f"The trained model cannot be used: {plain(report_error)}", icon=":material/warning:")
    elif manifest.get("backbone") != settings.backbone:
        st.warning(f"This model was trained with the {plain(manifest.get('backbone'))} backbone but the "
                   f"dashboard uses {plain(settings.backbone)} (FACEREC_BACKBONE), so faces will not be named: "
                   "retrain, or restart with the model's backbone.", icon=":material/warning:")
    st.markdown("**What next**")
    # Only the pages this role may open (each page's guard refuses the others anyway).
    offered = [(page, label, icon) for page, label, icon, action in (
        ("pages/recognize.py", "Recognize faces in photos", ":material/photo_camera:", Action.RECOGNIZE),
        ("pages/verify.py", "Compare two photos", ":material/compare:", Action.VERIFY),
        ("pages/model_metrics.py", "How good is it?", ":material/monitoring:", Action.VIEW_METRICS),
        ("pages/dataset_explorer.py", "Explore the data", ":material/dataset:", Action.VIEW_DATASET),
    ) if may(principal, action)]
    for column, (page, label, icon) in zip(st.columns(4), offered):
        column.page_link(page, label=label, icon=icon)
elif unreadable:
    st.warning(f"The trained model cannot be used: {plain(unreadable)}. Train a new one below.",
               icon=":material/warning:")
else:
    st.info(
        f"**No trained model yet** (nothing in {code(settings.artifacts_dir)}). Faces can still be detected, "
        "two photos compared, and the people enrolled on the Gallery page named; a model trained on LFW "
        "adds its people: use the training panel below, or run `python -m facerec_core train --lfw-dir PATH` "
        "and reload this page.",
        icon=":material/info:")

st.caption(runtime_summary(settings))

# ---- training ---------------------------------------------------------------------------------
lfw_error = None
people = None
if settings.lfw_dir is None:
    lfw_error = ("No LFW folder is configured. Set `FACEREC_LFW_DIR` to a folder in the LFW layout "
                 "(`<root>/<Person_Name>/<Person_Name>_0001.jpg`) and restart the dashboard to train from here.")
else:
    try:
        people = lfw_people(str(settings.lfw_dir))
    except DatasetError as exc:
        lfw_error = f"The LFW folder cannot be used: {plain(exc)}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _render_status(status: TrainingStatus) -> None:
    stage = status.current
    if status.active:
        label = "Cancelling…" if status.state == CANCELLING else "Training"
        if stage is not None:
            counts = f" {stage.done:,}/{stage.total:,}" if stage.total else ""
            label = f"{label}: stage {len(status.stages)}, {plain(stage.name)}{counts}"
            if status.planned:
                label += f" (of about {status.planned} stages)"
            eta = status.stage_eta
            if eta is not None and status.state != CANCELLING:
                label += f", about {_duration(eta)} left in this stage"
        st.progress(status.overall, text=f"{label} ({status.elapsed:.0f} s)")
        if len(status.stages) > 1:
            st.caption("Done: " + " → ".join(plain(s.name) for s in status.stages[:-1]))
    elif status.state == DONE:
        report = status.report or {}
        chosen = report.get("chosen_identifier")
        accuracy = (report.get("identifiers") or {}).get(chosen, {}).get("accuracy")
        people = report.get("data", {}).get("people", "?")
        if status.version and not status.deployed:
            st.success(f"Training finished in {status.elapsed:.0f} s: version {plain(status.version)}, {people} "
                       f"people, accuracy {_percent(accuracy)}. It is **not deployed yet**: compare it with the "
                       "deployed model under *Model versions* and deploy it if it is better.",
                       icon=":material/check:")
        else:
            st.success(f"Training finished in {status.elapsed:.0f} s: {people} people, accuracy "
                       f"{_percent(accuracy)}. The new model is in use.", icon=":material/check:")
    elif status.state == CANCELLED:
        st.warning(f"Training was cancelled ({plain(status.error)}). Nothing was saved; the deployed model, "
                   "if any, is unchanged.")
    elif status.state == FAILED:
        st.error(f"Training failed: {plain(status.error)}")


def _deploy(version: str) -> None:
    # A callback runs before the page: the principal is the one signed in now, checked by the core.
    who, services = principal_now(settings)
    try:
        if who is None or services is None:
            raise AccessError("you are not signed in any more: sign in again")
        authorize_deploy(who, services.audit, version=version, where=WHERE)
        use_version(settings.artifacts_dir, version)
    except (AccessError, ArtifactError) as exc:
        st.session_state["deploy_error"] = str(exc)
        return
    after_training({})
    st.session_state["deployed_message"] = version


def _versions_panel(candidate: str | None) -> None:
    """Every saved version; the chosen one (the new candidate by default) beside the deployed one,
    deployed only on confirmation."""
    versions = list_versions(settings.artifacts_dir)
    if not versions:
        return
    if st.session_state.get("deployed_message"):
        st.success(f"Version {plain(st.session_state.pop('deployed_message'))} is now deployed.",
                   icon=":material/check:")
    if st.session_state.get("deploy_error"):
        st.error(f"Not deployed: {plain(st.session_state.pop('deploy_error'))}")
    deployed = next((v for v in versions if v.deployed), None)
    others = [v.version for v in versions if not v.deployed and v.manifest is not None]
    with st.expander("Model versions", icon=":material/history:", expanded=bool(candidate and candidate in others)):
        st.dataframe([{"version": v.version, "deployed": "yes" if v.deployed else "",
                       "trained": _when(v.created) if v.manifest else "unreadable",
                       "people": (v.manifest or {}).get("classes"),
                       "accuracy": _percent(((v.manifest or {}).get("metrics") or {}).get("accuracy")),
                       "View-2": _percent(((v.manifest or {}).get("metrics") or {}).get(
                           "view2_accuracy_normalised", ((v.manifest or {}).get("metrics") or {}).get("view2_accuracy")))}
                      for v in versions], hide_index=True)
        if not others:
            st.caption("Only the deployed version is saved. Each training run adds one here.")
            return
        if candidate in others and st.session_state.get("version_candidate") != candidate:
            st.session_state["version_candidate"] = candidate  # a new candidate: show it first
            st.session_state["version_choice"] = candidate
        if st.session_state.get("version_choice") not in others:
            st.session_state["version_choice"] = others[0]
        chosen = st.selectbox("Compare with the deployed model", others, key="version_choice",
                              help="A newer candidate, or an earlier version to roll back to")
        try:
            candidate_pair = load_version(settings.artifacts_dir, chosen)
            deployed_pair = load_version(settings.artifacts_dir, deployed.version) if deployed else None
        except ArtifactError as exc:
            st.warning(f"Version {plain(chosen)} cannot be used: {plain(exc)}")
            return
        rows, notes = compare(candidate_pair, deployed_pair)
        st.dataframe([{"figure": r.figure, f"version {chosen}": r.candidate,
                       "deployed" + (f" ({deployed.version})" if deployed else ""): r.deployed,
                       "comparable": "yes" if r.comparable else "no", "why not": r.note} for r in rows],
                     hide_index=True)
        for note in notes:
            st.warning(plain(note), icon=":material/compare_arrows:")
        st.button(f"Deploy version {chosen}", type="primary", icon=":material/rocket_launch:",
                  on_click=_deploy, args=(chosen,), key="deploy_version", disabled=not may_deploy,
                  help="Replaces the deployed model for every session; the current one stays here to roll back to"
                       if may_deploy else f"Deploying {_needs(Action.DEPLOY_MODEL)}")


def _cancel() -> None:
    who, services = principal_now(settings)
    problem = check(who, services, Action.TRAIN, target="cancel training", where=WHERE)
    if problem is None:
        job.cancel()
    else:
        st.session_state["train_refused"] = problem


@st.fragment(run_every=1.0)
def _progress_panel() -> None:
    # Polls the background job every second without re-running (or freezing) the whole page.
    status = job.status()
    _render_status(status)
    if status.active:
        st.button("Cancel training", icon=":material/stop:", on_click=_cancel,
                  disabled=status.state == CANCELLING or not may_train)
    else:
        st.rerun(scope="app")  # the run ended: redraw the model summary above


if st.session_state.get("train_refused"):
    st.error(st.session_state.pop("train_refused"))  # made by dashboard.auth.check: names are plain text
status = job.status()
if not status.active and status.run_id and st.session_state.get("training_seen") != status.run_id:
    # A run just ended: say how it went, once per session.
    _render_status(status)
    st.session_state["training_seen"] = status.run_id

if not status.active:
    _versions_panel(status.version if status.state == DONE and not status.deployed else None)

# With a model in use, retraining is tucked away; without one it is the main thing to do here.
panel = st.expander("Train a new model", icon=":material/model_training:") if manifest and not status.active \
    else st.container()
with panel:
    if lfw_error:
        st.warning(lfw_error, icon=":material/folder_off:")
    elif status.active:
        _progress_panel()
    else:
        counts = sorted((len(p) for p in people.values()), reverse=True)
        st.markdown(f"LFW at {code(settings.lfw_dir)}: {sum(counts):,} images of {len(counts):,} people. "
                    "A small model (a few people with many photos) trains in a minute or two; the full "
                    "protocol (everyone with 2+ images) takes much longer on a CPU.")
        c1, c2, c3 = st.columns(3)
        min_images = c1.number_input("Min images per person", 2, 500, 20, help="People with fewer are left out")
        max_people = c2.number_input("Max people (0 = all)", 0, len(counts), min(10, len(counts)),
                                     help="Keep the people with the most images")
        max_images = c3.number_input("Max images per person (0 = all)", 0, 600, 20,
                                     help="Each person's first images, in file order")
        c4, c5, c6 = st.columns(3)
        identifier = c4.selectbox("Identifier", ["auto", "svm", "nn"],
                                  help="auto: whichever scores higher on the held-out split")
        singles = sum(1 for c in counts if c == 1)
        strangers = c5.number_input("Strangers for the open-set test (0 = skip)", 0, singles, min(100, singles),
                                    help="People with a single LFW photo, never trained on, who should come out "
                                         "'unknown'; each one is a photo to embed")
        has_pairs = settings.lfw_protocol_dir_resolved is not None
        c6.markdown("")  # aligns the checkbox with the inputs beside it
        verification = c6.checkbox("Also run LFW View-2 verification (embeds all of LFW: slow on a CPU)",
                                   value=False, disabled=not has_pairs,
                                   help=None if has_pairs else "Needs FACEREC_LFW_PROTOCOL_DIR with pairs.txt")
        kept = [c for c in counts if c >= min_images][:max_people or None]
        images = sum(min(c, max_images) if max_images else c for c in kept)
        st.caption(f"These options keep {len(kept):,} people and {images:,} images"
                   + (f", and test {strangers:,} strangers." if strangers else "."))
        if not may_train:
            st.caption(f"Training {_needs(Action.TRAIN)}.")
        if st.button("Train", type="primary", icon=":material/model_training:", disabled=not may_train):
            try:  # checked when pressed, not only by the disabled button
                authorize_training(principal, access.audit, kind="train", where=WHERE)
            except AccessError as exc:
                st.error(f"not allowed: {plain(exc)}")
                st.stop()
            if len(kept) < 2:
                st.error("At least two people are needed: lower the minimum images or raise the maximum people.")
            else:
                config = TrainConfig(min_images=int(min_images), max_people=int(max_people) or None,
                                     max_images=int(max_images) or None, identifier=identifier,
                                     verification=bool(verification), open_set=bool(strangers),
                                     max_unknowns=int(strangers) or None)
                job.start(settings, config)
                st.rerun()
