"""Command line: ``python -m facerec_core <command>`` or ``facerec <command>``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import FacerecError
from .settings import PRECISIONS, Settings

log = logging.getLogger("facerec_core")

_OPTIONS = ("lfw_dir", "lfw_protocol_dir", "artifacts_dir", "models_dir", "cache_dir", "backbone", "device",
            "precision", "threads", "min_face_size", "workers", "data_dir")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env().replace(**{name: getattr(args, name, None) for name in _OPTIONS})


def _guarded(args, action=None, where: str = ""):
    """``(principal, audit)`` for this command, after the guard of ``action``: every mutating
    command and every decision is audited as the CLI principal (an administrator)."""
    from .access.commands import cli_access

    return cli_access(_settings(args), action, where=where or f"cli {args.command}")


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def cmd_setup(args) -> int:
    from .backbones.keras_facenet import prepare_weights

    settings = _settings(args)
    path = prepare_weights(settings.models_dir, h5_path=args.h5, force=args.force)
    print(f"FaceNet weights ready: {path}")
    if not args.no_background:
        from .gallery.background import prepare_background
        from .progress import bars_wanted

        print(prepare_background(settings, force=args.force, progress=bars_wanted(quiet=args.quiet)))
    return 0


def _open_set_options(args) -> dict:
    if args.max_unknowns is None:
        return {}
    return {"open_set": args.max_unknowns > 0, "max_unknowns": args.max_unknowns}


def _audited_training(args, kind: str, run) -> dict:
    """Guard (TRAIN / RETRAIN), run, and record the version made (or the failure)."""
    from .access.guarded import authorize_training

    with _guarded(args) as (principal, audit):
        where = f"cli {kind}"
        authorize_training(principal, audit, kind=kind, where=where)
        try:
            report = run()
        except FacerecError as exc:
            audit.record(principal, kind, target=kind, outcome="failed", detail={"error": _one_line(exc)[:300]},
                         where=where)
            raise
        audit.record(principal, kind, target=str(report.get("version")), where=where,
                     detail={"deployed": not args.no_deploy, "identifier": report.get("chosen_identifier"),
                             "people": report.get("data", {}).get("people")})
    return report


def _stage_bars(args):
    """A bar per training stage on a terminal (stderr), none with --quiet or into a pipe."""
    from .progress import StageBars, bars_wanted

    return StageBars(bars_wanted(quiet=args.quiet))


def cmd_train(args) -> int:
    from .training import TrainConfig, train_lfw

    cfg = TrainConfig(min_images=args.min_images, seed=args.seed, identifier=args.identifier,
                      max_people=args.max_people, max_images=args.max_images, target_far=args.far,
                      verification=not args.no_verification, **_open_set_options(args))
    with _stage_bars(args) as bars:
        report = _audited_training(args, "train",
                                   lambda: train_lfw(_settings(args), cfg, deploy=not args.no_deploy, on_stage=bars))
    _print_summary(report)
    _print_version(report, deployed=not args.no_deploy)
    return 0


def _print_version(report: dict, deployed: bool) -> None:
    version = report.get("version")
    if deployed:
        print(f"saved and deployed as version {version} (`models list` shows the others, `models use` goes back)")
    else:
        print(f"saved as version {version}, not deployed: `python -m facerec_core models use {version}` deploys it")


def cmd_models_list(args) -> int:
    from .versions import list_versions

    versions = list_versions(_settings(args).artifacts_dir)
    if args.json:
        _print_json([{"version": v.version, "deployed": v.deployed, "created": v.created,
                      "error": v.error, "manifest": v.manifest} for v in versions])
        return 0
    if not versions:
        print("no trained models yet: python -m facerec_core train")
        return 0
    print(f"  {'version':24} {'created':26} {'people':>7} {'accuracy':>9} {'View-2':>8}  identifier")
    for v in versions:
        mark = "*" if v.deployed else " "
        if v.manifest is None:
            print(f"{mark} {v.version:24} unreadable: {_one_line(v.error or '')}")
            continue
        m = v.manifest.get("metrics") or {}
        view2 = m.get("view2_accuracy_normalised", m.get("view2_accuracy"))
        print(f"{mark} {v.version:24} {v.created:26} {v.manifest.get('classes', '?'):>7} "
              f"{_pct(m.get('accuracy')):>9} {_pct(view2):>8}  {v.manifest.get('identifier', '?')}")
    print("* deployed; `python -m facerec_core models use VERSION` deploys another")
    return 0


def _pct(value) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.2%}"


def cmd_models_use(args) -> int:
    from .access.guarded import authorize_deploy
    from .versions import deployed_version, use_version

    settings = _settings(args)
    before = deployed_version(settings.artifacts_dir)
    with _guarded(args, where="cli models use") as (principal, audit):
        authorize_deploy(principal, audit, version=args.version, where="cli models use")
        try:
            manifest = use_version(settings.artifacts_dir, args.version)
        except FacerecError as exc:
            audit.record(principal, "deploy_model", target=args.version, outcome="failed",
                         detail={"error": _one_line(exc)[:300]}, where="cli models use")
            raise
        audit.record(principal, "deploy_model", target=args.version, detail={"previous": before},
                     where="cli models use")
    print(f"version {args.version} deployed ({manifest.get('classes', '?')} people, "
          f"{manifest.get('backbone', '?')}); was {before or 'none'}")
    return 0


def cmd_evaluate(args) -> int:
    from .training import TrainConfig, train_lfw

    cfg = TrainConfig(min_images=args.min_images, seed=args.seed, identifier="auto",
                      max_people=args.max_people, max_images=args.max_images,
                      verification=not args.no_verification, **_open_set_options(args))
    report = train_lfw(_settings(args), cfg, save=False)
    if args.json:
        _print_json({k: v for k, v in report.items() if k != "per_person"})
    else:
        _print_summary(report)
    return 0


def _print_summary(report: dict) -> None:
    cols = ["accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1"]
    rows = [("original design", report["original_design"])]
    rows += [(f"{k} ({report['backbone']})", v) for k, v in report["identifiers"].items()]
    print(f"{'':28}" + "".join(f"{c:>17}" for c in cols))
    for name, m in rows:
        print(f"{name:28}" + "".join(f"{m[c]:>17.4f}" if c in m else f"{'-':>17}" for c in cols))
    d = report["data"]
    print(f"\n{d['people']} people, {d['images']} images ({d['train_images']} train / {d['test_images']} test); "
          f"detection: {d['detection']}")
    print(f"deployed identifier: {report['chosen_identifier']}; open-set threshold "
          f"{report['open_set']['threshold']:.4f} (FAR {report['open_set']['target_far']:.2%})")
    v = report.get("verification")
    if v:
        print(f"LFW View-2: {v['accuracy_mean']:.4%} ± {v['accuracy_std']:.4%}; "
              f"TAR@FAR=0.1%: {v['tar_at_far_0.1%']:.4f}; threshold {v['threshold']:.4f}")


def cmd_predict(args) -> int:
    from .access import Action
    from .history import record_sightings
    from .progress import bars_wanted, over
    from .recognizer import Recognizer

    with _guarded(args, Action.RECOGNIZE) as (principal, audit):
        rec = Recognizer.load_for_recognition(settings := _settings(args), no_model=args.no_model)
        results, failed = [], 0
        bars = bars_wanted(quiet=args.quiet)
        for path in over(args.images, total=len(args.images), desc="recognizing", enabled=bars):
            try:
                faces = rec.recognize(path, threshold=args.threshold, top_k=args.top_k)
                results.append({"image": str(path), "faces": [f.to_dict() for f in faces]})
            except FacerecError as exc:
                failed += 1
                results.append({"image": str(path), "error": str(exc)})
                continue
            for number, face in enumerate(faces, 1):  # every decision: the answer and its score, no face
                audit.record_decision(principal, "identify", answer=face.identity or "unknown",
                                      score=face.confidence, where="cli predict",
                                      detail={"image": Path(path).name, "face": number, "threshold": face.threshold})
            record_sightings(settings, "cli", faces, image=rec.read_image(path), place=Path(path).name,
                             backbone=rec.backbone.name)
    _print_json(results)
    return 1 if failed == len(args.images) else 0


def cmd_verify(args) -> int:
    from .access import Action
    from .recognizer import Recognizer

    if (args.image_b is None) == (args.person is None):
        raise FacerecError("give a second image, or --person NAME to check the photo against a known person")
    with _guarded(args, Action.VERIFY) as (principal, audit):
        rec = Recognizer.load(_settings(args), require_model=False)
        if args.person is not None:
            result = rec.verify_person(args.image_a, args.person, threshold=args.threshold, preset=args.preset)
        else:
            result = rec.verify(args.image_a, args.image_b, threshold=args.threshold, preset=args.preset)
        audit.record_decision(principal, "verify", answer="same" if result.same else "different",
                              score=result.similarity, where="cli verify",
                              detail={"threshold": result.threshold, "preset": result.preset, "person": args.person,
                                      "images": [Path(p).name for p in (args.image_a, args.image_b) if p]})
    _print_json(result.to_dict())
    return 0


def _gallery(args):
    from .gallery import GalleryStore

    return GalleryStore.open(_settings(args))


def cmd_enroll(args) -> int:
    from .access import Action, require
    from .access.guarded import GuardedGallery
    from .recognizer import Recognizer

    settings = _settings(args)
    with _guarded(args) as (principal, audit), _gallery(args) as store:
        guarded = GuardedGallery(store, principal, audit, where="cli enroll")
        require(principal, Action.ENROLL, audit, target=args.name, where="cli enroll")  # before loading models
        rec = Recognizer.load(settings, require_model=False)
        report = guarded.enroll_photos(rec, args.name, [(str(p), p) for p in args.images], notes=args.notes)
    for outcome in report.outcomes:
        print(f"{outcome.status:9} {outcome.source}" + (f": {outcome.reason}" if outcome.reason else ""))
    print(report.summary() + (f" ({report.person.samples} samples stored)" if report.person else ""))
    return 0 if report.added or report.duplicates else 1


def cmd_people(args) -> int:
    from .access import Action

    settings = _settings(args)
    with _guarded(args, Action.VIEW_GALLERY), _gallery(args) as store:
        people = store.people(backbone=settings.backbone)
    if args.json:
        _print_json([{"name": p.name, "samples": p.samples, "notes": p.notes, "created": p.created,
                      "updated": p.updated} for p in people])
    elif not people:
        print("nobody enrolled yet: python -m facerec_core enroll NAME PHOTO...")
    else:
        width = max(len(p.name) for p in people)
        print(f"{'name':{width}}  samples  enrolled")
        for p in people:
            print(f"{p.name:{width}}  {p.samples:7}  {p.created[:10]}" + (f"  {p.notes}" if p.notes else ""))
    return 0


def cmd_forget(args) -> int:
    from .access.guarded import GuardedGallery

    with _guarded(args) as (principal, audit), _gallery(args) as store:
        person = store.find_person(args.name)
        removed = GuardedGallery(store, principal, audit, where="cli forget").delete_person(
            person.id if person else args.name)
    print(f"forgot {person.name} ({removed} samples deleted)")
    return 0


def cmd_export(args) -> int:
    from .access.guarded import GuardedGallery

    settings = _settings(args)
    with _guarded(args) as (principal, audit), _gallery(args) as store:
        path = GuardedGallery(store, principal, audit, where="cli export").export_file(args.file, settings.backbone)
        n = len(store.people())
    print(f"exported {n} people ({settings.backbone}) to {path}")
    return 0


def cmd_import(args) -> int:
    from .access.guarded import GuardedGallery

    settings = _settings(args)
    with _guarded(args) as (principal, audit), _gallery(args) as store:
        r = GuardedGallery(store, principal, audit, where="cli import").import_file(args.file, settings.backbone)
    print(f"imported {r.people_added} new people, merged {r.people_merged}; "
          f"{r.samples_added} samples added, {r.samples_skipped} skipped")
    return 0


def cmd_retrain(args) -> int:
    from .training import TrainConfig, retrain

    cfg = TrainConfig(min_images=args.min_images, seed=args.seed, identifier=args.identifier,
                      max_people=args.max_people, max_images=args.max_images,
                      verification=not args.no_verification, **_open_set_options(args))
    with _stage_bars(args) as bars:
        report = _audited_training(args, "retrain",
                                   lambda: retrain(_settings(args), cfg, deploy=not args.no_deploy, on_stage=bars))
    _print_summary(report)
    g = report["gallery"]
    print(f"gallery folded in: {g['people']} people, {g['samples']} samples")
    _print_version(report, deployed=not args.no_deploy)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facerec", description="Face detection and recognition, offline.")
    _log_flags(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)

    def compute_opts(sp):
        sp.add_argument("--device", choices=["cpu", "cuda", "auto"], help="torch device (default: FACEREC_DEVICE or auto)")
        sp.add_argument("--precision", choices=list(PRECISIONS),
                        help="embedding arithmetic (default: FACEREC_PRECISION or auto: int8 on CPUs with VNNI, "
                             "else bf16 on CPUs with native bfloat16)")
        sp.add_argument("--threads", type=int, help="torch threads per request (default: FACEREC_THREADS or automatic)")

    def common(sp, data=False):
        sp.add_argument("--backbone", help=f"embedding model (default: FACEREC_BACKBONE or {Settings.backbone})")
        compute_opts(sp)
        sp.add_argument("--artifacts-dir", type=Path, help="trained model folder")
        sp.add_argument("--models-dir", type=Path, help="backbone weights folder")
        sp.add_argument("--min-face-size", type=int, help="smallest face to detect, pixels")
        sp.add_argument("--data-dir", type=Path, help="folder of the gallery, accounts and audit trail "
                                                      "(default: FACEREC_DATA_DIR)")
        if data:
            sp.add_argument("--lfw-dir", type=Path, help="LFW folder (default: FACEREC_LFW_DIR)")
            sp.add_argument("--lfw-protocol-dir", type=Path, help="folder with pairs.txt (default: beside the LFW folder)")
            sp.add_argument("--cache-dir", type=Path, help="embedding cache folder")
            sp.add_argument("--workers", type=int, help="processes for bulk embedding")
            sp.add_argument("--min-images", type=int, default=2, help="keep people with at least N images")
            sp.add_argument("--max-people", type=int, help="keep only the N people with most images")
            sp.add_argument("--max-images", type=int, help="use at most the first N images of each person")
            sp.add_argument("--max-unknowns", type=int,
                            help="open-set test: at most N one-photo people as strangers (0 skips it)")
            sp.add_argument("--seed", type=int, default=42)
            sp.add_argument("--no-verification", action="store_true", help="skip LFW View-2")

    sp = sub.add_parser("setup", help="download and convert the FaceNet weights (part of the default backbone) and "
                                      "build the background cohort from LFW (once)")
    sp.add_argument("--models-dir", type=Path)
    sp.add_argument("--h5", type=Path, help="use this facenet_keras.h5 instead of downloading")
    sp.add_argument("--force", action="store_true", help="convert and build again")
    sp.add_argument("--lfw-dir", type=Path, help="LFW folder for the background cohort (default: FACEREC_LFW_DIR)")
    sp.add_argument("--cache-dir", type=Path, help="where the background cohort is kept (default: FACEREC_CACHE_DIR)")
    sp.add_argument("--no-background", action="store_true",
                    help="do not build the background cohort (the gallery then decides by the nearest sample)")
    sp.set_defaults(func=cmd_setup)

    sp = sub.add_parser("train", help="train on LFW and save artifacts")
    common(sp, data=True)
    sp.add_argument("--identifier", choices=["auto", "svm", "nn"], default="auto")
    sp.add_argument("--far", type=float, default=0.01, help="target false-accept rate for the threshold")
    sp.add_argument("--no-deploy", action="store_true",
                    help="save the model as a new version without deploying it (`models use` deploys it)")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="evaluate on LFW without saving (prints the metrics table)")
    common(sp, data=True)
    sp.add_argument("--json", action="store_true", help="print the full report as JSON")
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("predict", help="recognize every face in images; prints JSON")
    common(sp)
    sp.add_argument("images", nargs="+", type=Path)
    sp.add_argument("--threshold", type=float, help="open-set threshold (cosine); default from the model")
    sp.add_argument("--top-k", type=int, default=3)
    sp.add_argument("--no-model", action="store_true",
                    help="without a trained model: the enrolled people only, or detection and embedding when "
                         "nobody is enrolled (with no model and people enrolled, that is the default)")
    sp.set_defaults(func=cmd_predict)

    sp = sub.add_parser("verify", help="are the faces in two images the same person?")
    common(sp)
    sp.add_argument("image_a", type=Path)
    sp.add_argument("image_b", type=Path, nargs="?")
    sp.add_argument("--person", help="check image_a against this enrolled or model person instead of image_b")
    sp.add_argument("--preset", choices=("strict", "balanced", "lenient"),
                    help="threshold for a measured false-accept rate (default: strict, 0.1%%)")
    sp.add_argument("--threshold", type=float, help="a threshold of your own instead of a preset")
    sp.set_defaults(func=cmd_verify)

    def gallery_opts(sp, models=False):
        sp.add_argument("--data-dir", type=Path, help="folder of the gallery (default: FACEREC_DATA_DIR)")
        sp.add_argument("--backbone", help=f"embedding model (default: FACEREC_BACKBONE or {Settings.backbone})")
        if models:
            compute_opts(sp)
            sp.add_argument("--models-dir", type=Path, help="backbone weights folder")
            sp.add_argument("--min-face-size", type=int, help="smallest face to detect, pixels")

    sp = sub.add_parser("enroll", help="enroll a person from photos (each must show exactly one face)")
    gallery_opts(sp, models=True)
    sp.add_argument("name", help="display name (adds samples when already enrolled)")
    sp.add_argument("images", nargs="+", type=Path)
    sp.add_argument("--notes", help="free text stored with the person")
    sp.set_defaults(func=cmd_enroll)

    sp = sub.add_parser("people", help="list enrolled people")
    gallery_opts(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_people)

    sp = sub.add_parser("forget", help="delete an enrolled person and all their samples")
    gallery_opts(sp)
    sp.add_argument("name")
    sp.set_defaults(func=cmd_forget)

    sp = sub.add_parser("export", help="write the gallery to a JSON file (biometric data: keep it private)")
    gallery_opts(sp)
    sp.add_argument("file", type=Path)
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("import", help="merge a gallery export (same backbone only)")
    gallery_opts(sp)
    sp.add_argument("file", type=Path)
    sp.set_defaults(func=cmd_import)

    sp = sub.add_parser("retrain", help="train on LFW with the enrolled gallery folded into the model")
    common(sp, data=True)
    sp.add_argument("--identifier", choices=["auto", "svm", "nn"], default="svm")
    sp.add_argument("--no-deploy", action="store_true", help="save as a new version without deploying it")
    sp.set_defaults(func=cmd_retrain)

    sp = sub.add_parser("models", help="trained model versions: list them, deploy one or roll back")
    models = sp.add_subparsers(dest="models_command", required=True)
    mp = models.add_parser("list", help="every saved version, the deployed one marked *")
    mp.add_argument("--artifacts-dir", type=Path, help="trained model folder")
    mp.add_argument("--json", action="store_true")
    mp.set_defaults(func=cmd_models_list)
    mp = models.add_parser("use", help="deploy VERSION (also to roll back to an earlier one)")
    mp.add_argument("--artifacts-dir", type=Path, help="trained model folder")
    mp.add_argument("version")
    mp.add_argument("--data-dir", type=Path, help="folder of the audit trail (default: FACEREC_DATA_DIR)")
    mp.set_defaults(func=cmd_models_use)

    from .access.commands import register as register_access
    from .api.commands import register as register_api
    for register in (register_access, register_api):  # user/audit, serve/key/webhook: their own modules
        register(sub)
    _log_flags_below(p)
    return p


def _log_flags(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """-v and -q, before the subcommand (``top``) or after it: a subcommand's copy defaults to
    "not given", so ``facerec -v train`` is not undone by the subcommand's parser."""
    default = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)", **default)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars", **default)


def _log_flags_below(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                _log_flags(child)
                _log_flags_below(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FacerecError as exc:  # bad input or settings: the message names the problem and the fix
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (InterruptedError, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an input nothing above foresaw: one line, the traceback with -v only
        if args.verbose:
            log.exception("unexpected error")
        print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (run with -v for the details)",
              file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
