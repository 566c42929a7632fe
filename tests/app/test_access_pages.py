"""Issue #16 in the dashboard, driven in-process with AppTest: the first administrator, signing in
and out, expiry, every page with every role (allowed renders, refused says "not allowed"), the
Accounts and Audit pages, refusals that hold when the session state is forged, and the decisions
that go into the audit trail."""
from __future__ import annotations

import sqlite3
import time

import pytest
from streamlit.testing.v1 import AppTest

import dashboard.auth as auth
from dashboard.webcam_support import TrackDecisions
from facerec_core.access import REQUIRED_ROLE, Action, Principal, Role, allowed, cli_principal
from facerec_core.faces import Face
from facerec_core.gallery import GalleryStore, enroll, gallery_path
from facerec_core.video.tracking import FrameResult
from tests.app.conftest import (ACCOUNTS, access_services, ensure_account, password_of, session_token, shown,
                                sign_in_app)
from tests.app.test_pages import APP_FILE, TIMEOUT, _navigation_mode, no_exception, texts  # noqa: F401
from tests.conftest import lfw_photo

# page file → (title, the action opening it is)
PAGES = {"pages/home.py": ("facerec", Action.VIEW_HOME, "Home"),
         "pages/recognize.py": ("Recognize", Action.RECOGNIZE, "Recognize"),
         "pages/verify.py": ("Verify", Action.VERIFY, "Verify"),
         "pages/gallery.py": ("Gallery", Action.VIEW_GALLERY, "Gallery"),
         "pages/live_webcam.py": ("Live Webcam", Action.LIVE_WEBCAM, "Live Webcam"),
         "pages/authenticate.py": ("Authenticate", Action.AUTHENTICATE, "Authenticate"),
         "pages/history.py": ("History", Action.VIEW_HISTORY, "History"),
         "pages/dataset_explorer.py": ("Dataset Explorer", Action.VIEW_DATASET, "Dataset Explorer"),
         "pages/model_metrics.py": ("Model Metrics", Action.VIEW_METRICS, "Model Metrics"),
         "pages/accounts.py": ("Accounts", Action.MANAGE_USERS, "Accounts"),
         "pages/audit.py": ("Audit", Action.VIEW_AUDIT, "Audit")}


def app(role: str | None = "admin") -> AppTest:
    """The dashboard, signed in as the ``role`` test account (``None``: signed out), run once."""
    at = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT)
    if role is not None:
        sign_in_app(at, role)
    at.run()
    no_exception(at)
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def signed_in(at: AppTest) -> str:
    """The sidebar's "Signed in as NAME (role)" line, as the browser shows it."""
    return texts(at.sidebar.markdown).replace("**", "")


def refused(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error if shown(e.value).startswith("not allowed")]


@pytest.fixture()
def on_this_machine(monkeypatch):
    """AppTest has no real client: make it a browser on this machine."""
    monkeypatch.setattr(auth, "client_address", lambda: None)


# ---- first start, sign-in, sign-out, expiry -----------------------------------------------------
def test_first_start_creates_the_administrator_from_this_machine(empty_env, on_this_machine):
    at = app(None)
    assert [t.value for t in at.title] == ["Create the first administrator"]
    assert not at.sidebar.markdown  # nothing else of the dashboard before there is an account
    at.text_input(key="facerec_admin_name").input("Ada Admin")
    at.text_input(key="facerec_admin_password").input("ada keeps a long passphrase")
    at.text_input(key="facerec_admin_password_again").input("ada keeps another passphrase")
    button(at, "Create the administrator").click().run()
    assert "The two passwords differ" in texts(at.error)
    at.text_input(key="facerec_admin_name").input("Ada Admin")
    at.text_input(key="facerec_admin_password").input("short")
    at.text_input(key="facerec_admin_password_again").input("short")
    button(at, "Create the administrator").click().run()
    assert "too short" in texts(at.error)
    at.text_input(key="facerec_admin_name").input("Ada Admin")
    at.text_input(key="facerec_admin_password").input("ada keeps a long passphrase")
    at.text_input(key="facerec_admin_password_again").input("ada keeps a long passphrase")
    button(at, "Create the administrator").click().run()
    no_exception(at)
    assert signed_in(at).startswith("Signed in as Ada Admin (admin)")
    assert at.title[0].value == "facerec"
    with access_services() as (accounts, _):
        assert [(a.name, a.role) for a in accounts.list(cli_principal())] == [("Ada Admin", Role.ADMIN)]
    # nobody sees the form once an account exists: a fresh session gets the sign-in form
    assert [t.value for t in app(None).title] == ["Sign in"]


def test_first_start_from_another_machine_names_the_command(empty_env, monkeypatch):
    monkeypatch.setattr(auth, "client_address", lambda: "192.0.2.7")
    at = app(None)
    assert [t.value for t in at.title] == ["Create the first administrator"]
    assert "python -m facerec_core user add NAME --role admin" in texts(at.warning)
    assert not at.text_input  # no form for a visitor from the network
    with access_services() as (accounts, _):
        assert not accounts.has_accounts()


@pytest.mark.parametrize("address, loopback", [(None, True), ("127.0.0.1", True), ("127.8.9.10", True),
                                               ("::1", True), ("::ffff:127.0.0.1", True), ("10.0.0.1", False),
                                               ("192.0.2.7", False), ("fe80::1%eth0", False), ("unknown", False),
                                               ("", False)])
def test_loopback_addresses(address, loopback):
    assert auth.is_loopback(address) is loopback


def test_sign_in_wrong_password_sign_out_and_no_sso_button(empty_env):
    admin, password = ensure_account("admin")
    viewer, _ = ensure_account("viewer")
    at = app(None)
    assert [t.value for t in at.title] == ["Sign in"]
    assert not [b for b in at.button if "single sign-on" in b.label]  # no [auth] section in secrets.toml
    at.text_input(key="facerec_sign_in_name").input(viewer)
    at.text_input(key="facerec_sign_in_password").input("not the password at all")
    button(at, "Sign in").click().run()
    assert "Wrong name or password" in texts(at.error)
    at.text_input(key="facerec_sign_in_name").input("Nobody Here")
    at.text_input(key="facerec_sign_in_password").input("not the password at all")
    button(at, "Sign in").click().run()
    assert "Wrong name or password" in texts(at.error)  # the same message for a name that does not exist
    assert "facerec_sign_in_password" not in at.session_state  # the session forgot it once read
    at.text_input(key="facerec_sign_in_name").input(admin)
    at.text_input(key="facerec_sign_in_password").input(password)
    button(at, "Sign in").click().run()
    no_exception(at)
    assert signed_in(at).startswith(f"Signed in as {admin} (admin)")
    token = at.session_state[auth.TOKEN_KEY]
    button(at, "Sign out").click().run()
    assert [t.value for t in at.title] == ["Sign in"] and "You are signed out" in texts(at.info)
    with access_services() as (accounts, audit):
        with pytest.raises(Exception, match="ended"):
            accounts.resume(token)  # the session is over on the server too
        outcomes = [(e.target, e.outcome) for e in audit.events(action="sign_in")]
    assert (admin, "ok") in outcomes and (viewer, "failed") in outcomes and ("Nobody Here", "failed") in outcomes


def test_an_idle_session_expires(empty_env, monkeypatch):
    monkeypatch.setenv("FACEREC_SESSION_MINUTES", "0.02")  # 1.2 s
    at = app("operator")
    assert signed_in(at).startswith("Signed in as Otto Operator (operator)")
    time.sleep(2.0)
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert "Your session expired" in texts(at.info)
    assert auth.TOKEN_KEY not in at.session_state


def test_a_forged_token_is_not_a_session(empty_env):
    ensure_account("admin")
    at = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT)
    at.session_state[auth.TOKEN_KEY] = "made-up-token"
    at.session_state["facerec_principal"] = Principal("Ada Admin", Role.ADMIN, "dashboard")
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]


# ---- every page with every role -------------------------------------------------------------------
@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_every_page_with_every_role(trained_env, recognizer, monkeypatch, role):
    import facerec_core.recognizer as recognizer_module

    # the app's Recognizer.load runs for real but reuses the session's detector and backbone
    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: recognizer.backbone)
    at = app(role)
    name = ACCOUNTS[role]
    links = {link.proto.label for link in at.sidebar.get("page_link")}
    for page, (title, action, label) in PAGES.items():
        if page in ("pages/live_webcam.py", "pages/authenticate.py") and allowed(Role(role), action):
            # a WebRTC component needs a real server: the open pages are in the browser tests
            assert label in links
            continue
        at.switch_page(page).run()
        no_exception(at)
        assert at.title and at.title[0].value == title, page
        if allowed(Role(role), action):
            assert not refused(at), (page, refused(at))
            assert label in links, (page, links)
        else:
            assert refused(at) == [f"not allowed: {label} needs the {REQUIRED_ROLE[action].value} role; you are "
                                   f"signed in as {name} ({role})"], page
            assert label not in links  # the navigation hides it; the guard is what refuses
            assert len(at.main.children) <= 3, page  # title and the refusal: nothing of the page
    with access_services() as (_, audit):
        denied = {e.target for e in audit.events(actor=name, outcome="denied")}
    assert denied >= {label for _, action, label in PAGES.values() if not allowed(Role(role), action)}


# ---- the Accounts page ------------------------------------------------------------------------------
def test_accounts_page(empty_env):
    ensure_account("admin")
    viewer, viewer_password = ensure_account("viewer")
    at = app("admin")
    at.switch_page("pages/accounts.py").run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["name"]) == ["Ada Admin", "Vera Viewer"]
    assert "password" not in " ".join(table.columns).lower()

    # add an operator (the passwords must match; a weak one is refused with the core's message)
    at.text_input(key="accounts_add_name").input("Olga Operator")
    at.selectbox(key="accounts_add_role").set_value("operator")
    at.text_input(key="accounts_add_password").input("olga")
    at.text_input(key="accounts_add_password_again").input("olga")
    button(at, "Add the account").click().run()
    assert "too short" in texts(at.error)
    at.text_input(key="accounts_add_name").input("Olga Operator")
    at.selectbox(key="accounts_add_role").set_value("operator")
    at.text_input(key="accounts_add_password").input("olga keeps a long passphrase")
    at.text_input(key="accounts_add_password_again").input("olga keeps a long passphrase")
    button(at, "Add the account").click().run()
    no_exception(at)
    assert "Added Olga Operator as operator." in texts(at.success)
    assert "Olga Operator" in list(at.dataframe[0].value["name"])

    # change the viewer's role
    at.selectbox(key="accounts_chosen").set_value(viewer).run()
    at.selectbox(key="accounts_new_role").set_value("operator").run()
    at.button(key="accounts_set_role").click().run()
    assert f"{viewer} is now operator" in texts(at.success)

    # lock the viewer with five wrong passwords (the core's clock moves past each delay), unlock
    with access_services() as (accounts, _):
        accounts.clock = _clock_after_each_call(accounts.clock)
        for _ in range(5):
            with pytest.raises(Exception):
                accounts.sign_in(viewer, "a wrong password here")
        assert accounts.get(viewer).locked_until
    at.run()
    at.selectbox(key="accounts_chosen").set_value(viewer).run()
    assert "locked until" in texts(at.caption)
    at.button(key="accounts_unlock").click().run()
    assert f"Unlocked {viewer}." in texts(at.success)
    with access_services() as (accounts, _):
        assert accounts.get(viewer).locked_until is None
        accounts.sign_in(viewer, viewer_password)

    # reset the password
    at.selectbox(key="accounts_chosen").set_value(viewer).run()
    at.text_input(key="accounts_new_password").input("vera has a brand new passphrase")
    at.text_input(key="accounts_new_password_again").input("vera has a brand new passphrase")
    button(at, "Reset the password").click().run()
    assert f"The password of {viewer} was reset" in texts(at.success)
    with access_services() as (accounts, _):
        accounts.sign_in(viewer, "vera has a brand new passphrase")

    # remove, with confirmation
    at.selectbox(key="accounts_chosen").set_value("Olga Operator").run()
    at.button(key="accounts_remove").click().run()
    assert "Remove the account **Olga Operator**?" in shown(texts(at.warning)) or \
        "Remove the account Olga Operator?" in texts(at.warning)
    at.button(key="accounts_remove_yes").click().run()
    assert "Removed Olga Operator." in texts(at.success)
    assert "Olga Operator" not in list(at.dataframe[0].value["name"])

    # the last administrator cannot be removed: the core's message is shown
    at.selectbox(key="accounts_chosen").set_value("Ada Admin").run()
    at.button(key="accounts_remove").click().run()
    at.button(key="accounts_remove_yes").click().run()
    no_exception(at)
    assert "last administrator" in texts(at.error)
    assert "Ada Admin" in list(at.dataframe[0].value["name"])


def _clock_after_each_call(clock):
    """A clock 40 s further on every call: no rate-limit delay is waited for."""
    import datetime as dt

    state = {"now": clock()}

    def tick():
        state["now"] += dt.timedelta(seconds=40)
        return state["now"]

    return tick


# ---- the Audit page ---------------------------------------------------------------------------------
def test_audit_page_filters_downloads_and_verifies_the_chain(empty_env):
    ensure_account("admin")
    operator, _ = ensure_account("operator")
    with access_services() as (accounts, audit):
        with pytest.raises(Exception):
            accounts.sign_in(operator, "a wrong password here")
        audit.record_decision(Principal(operator, Role.OPERATOR, "dashboard"), "identify", answer="Colin Powell",
                              score=0.71, where="Recognize page")
    at = app("admin")
    at.switch_page("pages/audit.py").run()
    no_exception(at)
    table = at.dataframe[0].value
    assert {"time", "actor", "action", "target", "outcome", "where", "detail"} <= set(table.columns)
    assert "identify" in set(table["action"]) and "sign_in" in set(table["action"])

    at.selectbox(key="audit_actor").set_value(operator).run()
    table = at.dataframe[0].value
    assert set(table["actor"]) == {operator} and list(table["target"]) == ["Colin Powell"]
    assert '"score": 0.71' in table["detail"].iloc[0]
    at.selectbox(key="audit_actor").set_value("any")
    at.selectbox(key="audit_outcome").set_value("failed").run()
    assert set(at.dataframe[0].value["outcome"]) == {"failed"}
    assert not at.download_button(key="audit_csv").disabled

    at.button(key="audit_verify").click().run()
    assert "The chain is intact" in texts(at.success)

    # an edited row (with SQLite itself, the triggers dropped) is named
    path = gallery_path(empty_env)
    with sqlite3.connect(path) as conn:
        triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                               "AND tbl_name = 'audit'")]
        for name in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        bad = conn.execute("SELECT id FROM audit WHERE action = 'identify'").fetchone()[0]
        conn.execute("UPDATE audit SET target = 'Tony Blair' WHERE id = ?", (bad,))
    at.button(key="audit_verify").click().run()
    assert f"The chain is broken at row {bad}" in texts(at.error)


# ---- refusals that hold -------------------------------------------------------------------------
def test_gallery_is_refused_to_an_operator_even_with_a_forged_session_state(trained_env, recognizer, tmp_path,
                                                                            monkeypatch, lfw_dir):
    settings = trained_env.replace(data_dir=tmp_path / "data")
    monkeypatch.setenv("FACEREC_DATA_DIR", str(settings.data_dir))
    store = GalleryStore(gallery_path(settings))
    person = enroll(store, recognizer, "Jacques Chirac", [lfw_photo(lfw_dir, "Jacques_Chirac", 1)]).person
    at = AppTest.from_file(APP_FILE, default_timeout=TIMEOUT)
    sign_in_app(at, "operator")
    # what an admin's session would hold: a principal, a pending deletion, an open panel
    at.session_state["facerec_principal"] = Principal("Ada Admin", Role.ADMIN, "dashboard")
    at.session_state["principal"] = Principal("Ada Admin", Role.ADMIN, "dashboard")
    at.session_state["gallery_confirm_delete"] = person.id
    at.session_state["gallery_open_panels"] = {person.id}
    at.run()
    at.switch_page("pages/gallery.py").run()
    no_exception(at)
    assert refused(at) == ["not allowed: Gallery needs the admin role; you are signed in as Otto Operator (operator)"]
    assert [b.label for b in at.button] == ["Sign out"]  # no delete, rename, export or import to press
    assert [p.name for p in store.people()] == ["Jacques Chirac"] and store.people()[0].samples == 1

    # the core refuses the operator's principal for every change, whatever the page does
    from facerec_core.access.guarded import GuardedGallery
    from facerec_core.errors import NotAllowedError

    with access_services(settings) as (_, audit):
        guarded = GuardedGallery(store, Principal(ACCOUNTS["operator"], Role.OPERATOR, "dashboard"), audit,
                                 where="Gallery page")
        for change in (lambda: guarded.delete_person(person.id), lambda: guarded.rename_person(person.id, "X"),
                       lambda: guarded.export_bytes(recognizer.backbone.name)):
            with pytest.raises(NotAllowedError):
                change()
    assert [p.name for p in store.people()] == ["Jacques Chirac"]
    store.close()


def test_home_train_and_deploy_are_checked_when_pressed(empty_env, lfw_dir, monkeypatch):
    import dashboard.training_job as training_job

    started = []
    job = training_job.TrainingJob(train_fn=lambda *a, **k: started.append(1) or {})
    monkeypatch.setattr(training_job, "get_training_job", lambda: job)
    monkeypatch.setenv("FACEREC_LFW_DIR", str(lfw_dir))
    at = app("operator")
    train = button(at, "Train")
    assert train.disabled and "Training needs the admin role; you are operator" in texts(at.caption)
    # Streamlit drops a press of a disabled button; were the page to offer it by mistake, the core's
    # check when it is pressed still refuses
    monkeypatch.setattr(auth, "may", lambda principal, action: True)
    at.run()
    button(at, "Train").click().run()
    no_exception(at)
    assert "not allowed: Training a model needs the admin role" in texts(at.error)
    assert not started and not job.status().run_id
    with access_services() as (_, audit):
        assert [e.action for e in audit.events(actor=ACCOUNTS["operator"], outcome="denied")][:1] == ["train"]


def test_an_administrators_threshold_is_audited(trained_env, recognizer, monkeypatch):
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: recognizer.backbone)
    at = app("admin")
    at.switch_page("pages/recognize.py").run()
    slider = at.slider(key="recognize_threshold")
    assert not slider.disabled
    slider.set_value(0.9).run()
    no_exception(at)
    with access_services() as (_, audit):
        changes = audit.events(actor=ACCOUNTS["admin"], action="change_thresholds")
    assert len(changes) == 1 and changes[0].target == "identify" and changes[0].where == "Recognize page"
    assert changes[0].detail["threshold"] == pytest.approx(0.9)


# ---- decisions in the audit trail -------------------------------------------------------------------
def test_recognize_and_verify_decisions_are_audited_once(trained_env, recognizer, monkeypatch, held_out_photo,
                                                        lfw_dir):
    import facerec_core.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "FaceDetector", lambda *a, **k: recognizer.detector)
    monkeypatch.setattr(recognizer_module, "load_backbone", lambda *a, **k: recognizer.backbone)
    name, photo = held_out_photo
    operator = ACCOUNTS["operator"]
    at = app("operator")
    with access_services() as (_, audit):
        before = audit.count()
    at.switch_page("pages/recognize.py").run()
    threshold = at.slider(key="recognize_threshold")
    assert threshold.disabled  # an operator decides at the calibrated threshold
    at.file_uploader[0].set_value(("known.jpg", photo.read_bytes(), "image/jpeg")).run()
    no_exception(at)
    assert at.dataframe[0].value["identity"].tolist() == [name.replace("_", " ")]
    at.session_state["recognize_threshold"] = 1.0  # a forged value of the disabled slider is ignored
    at.run()
    no_exception(at)
    assert at.dataframe[0].value["identity"].tolist() == [name.replace("_", " ")]
    at.selectbox(key="highlight_0").set_value(0).run()  # another rerun: no second record
    with access_services() as (_, audit):
        decisions = [e for e in audit.events(actor=operator, action="identify") if e.id > before]
    assert len(decisions) == 1
    assert decisions[0].where == "Recognize page" and decisions[0].target == name
    assert decisions[0].detail["answer"] == name and 0 < decisions[0].detail["score"] <= 1
    assert not any(isinstance(v, list) for v in decisions[0].detail.values())  # never an embedding

    at.switch_page("pages/verify.py").run()
    assert "custom" not in at.radio(key="verify_rule").options
    at.file_uploader[0].set_value(("a.jpg", photo.read_bytes(), "image/jpeg"))
    at.file_uploader[1].set_value(("b.jpg", lfw_photo(lfw_dir, name, 1).read_bytes(), "image/jpeg")).run()
    no_exception(at)
    at.run()
    with access_services() as (_, audit):
        verified = [e for e in audit.events(actor=operator, action="verify") if e.id > before]
    assert len(verified) == 1 and verified[0].where == "Verify page"
    assert verified[0].detail["answer"] == "same" and verified[0].detail["preset"] == "strict"


def test_live_decisions_are_recorded_when_a_track_is_named_or_changes():
    recorded = []
    decisions = TrackDecisions(lambda answer, score, detail: recorded.append((answer, score, detail["track"])))

    def result(index, *faces):
        made = []
        for identity, score in faces:
            face = Face(box=(0.0, 0.0, 10.0, 10.0), det_score=0.99)
            face.identity, face.confidence = identity, score
            made.append(face)
        return FrameResult(index, made, list(range(1, len(faces) + 1)), True, 1, {"total": 1.0}, 0.0)

    decisions.observe(result(1, ("Colin_Powell", 0.8)))
    for index in range(2, 40):  # the same decision frame after frame: nothing new
        decisions.observe(result(index, ("Colin_Powell", 0.8)))
    decisions.observe(result(40, ("Colin_Powell", 0.8), ("unknown", 0.2)))
    decisions.observe(result(41, ("Colin_Powell", 0.8), ("Tony_Blair", 0.6)))
    decisions.observe(result(41, ("Colin_Powell", 0.8), ("Tony_Blair", 0.6)))  # the same result again
    decisions.observe(result(42, (None, None)))
    assert recorded == [("Colin_Powell", 0.8, 1), ("unknown", 0.2, 2), ("Tony_Blair", 0.6, 2)]


def test_session_token_helper_signs_in_through_the_core(empty_env):
    token = session_token("viewer")
    with access_services() as (accounts, _):
        assert accounts.resume(token) == Principal(ACCOUNTS["viewer"], Role.VIEWER, "dashboard")
    assert password_of(ACCOUNTS["viewer"]) != ACCOUNTS["viewer"]
