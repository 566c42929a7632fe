"""MTCNN detection on real LFW photos."""
import numpy as np
import pytest
from PIL import Image

from facerec_core.detect import FaceDetector, central_face
from facerec_core.images import load_image
from tests.conftest import lfw_photo


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(min_face_size=20, threshold=0.9)


def side_by_side(lfw_dir, a, b) -> np.ndarray:
    left, right = load_image(lfw_photo(lfw_dir, *a)), load_image(lfw_photo(lfw_dir, *b))
    return np.concatenate([left, right], axis=1)


def test_one_face_with_box_score_and_landmarks(detector, lfw_dir):
    image = load_image(lfw_photo(lfw_dir, "Colin_Powell", 1))
    faces = detector.detect(image)
    face = central_face(faces, image.shape)
    assert face is not None and face.det_score > 0.99
    x1, y1, x2, y2 = face.box
    assert 60 < x1 < x2 < 190 and 40 < y1 < y2 < 210  # LFW centres the face
    assert face.landmarks.shape == (5, 2)
    left_eye, right_eye = face.landmarks[0], face.landmarks[1]
    assert left_eye[0] < right_eye[0]
    assert x1 <= face.landmarks[:, 0].min() and face.landmarks[:, 0].max() <= x2


def test_every_face_in_a_group(detector, lfw_dir):
    image = side_by_side(lfw_dir, ("Colin_Powell", 1), ("Tony_Blair", 1))
    faces = detector.detect(image)
    assert len(faces) >= 2
    centres = sorted(f.center[0] for f in faces if f.det_score > 0.99)
    assert centres[0] < 250 < centres[-1]
    # the central face of the composite is the one nearest the middle of the image
    chosen = central_face(faces, image.shape)
    assert all(abs(chosen.center[0] - 250) <= abs(f.center[0] - 250) for f in faces)


def test_no_face(detector, blank_image):
    assert detector.detect(blank_image) == []
    assert central_face([], blank_image.shape) is None


def test_min_face_size_and_threshold_are_settings(detector, lfw_dir):
    image = load_image(lfw_photo(lfw_dir, "Colin_Powell", 1))
    small = np.asarray(Image.fromarray(image).resize((80, 80)))
    assert len(detector.detect(small)) >= 1
    assert detector.detect(small, min_face_size=60) == []
    assert detector.detect(image, threshold=1.01) == []


def test_batch_equals_single(detector, lfw_dir):
    """Photos of one size share network calls; every face is the one found alone."""
    images = [load_image(lfw_photo(lfw_dir, name, i)) for name, i in
              [("Tony_Blair", 1), ("Tony_Blair", 2), ("Colin_Powell", 1), ("Tony_Blair", 3)]]
    images.insert(2, np.asarray(Image.fromarray(images[0]).resize((320, 300))))  # another size
    images.append(np.zeros((250, 250, 3), np.uint8))  # no face, among faces
    batch = detector.detect_batch(images)
    assert batch[-1] == []
    for img, faces in zip(images, batch):
        single = detector.detect(img)
        assert len(single) == len(faces)
        for a, b in zip(single, faces):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
            assert a.det_score == pytest.approx(b.det_score, abs=1e-5)


def test_fast_stages_match_facenet_pytorch(lfw_dir):
    """Our MTCNN runner (one-step crops, channels-last) gives facenet-pytorch's own boxes,
    scores and landmarks, on LFW photos and on a 640×480 frame."""
    from facenet_pytorch import MTCNN

    from facerec_core.mtcnn import detect_one
    from tests.support.scenes import compose_frame

    reference = MTCNN(keep_all=True, min_face_size=20)
    images = [load_image(lfw_photo(lfw_dir, name, i)) for name, i in
              [("Colin_Powell", 1), ("Colin_Powell", 2), ("Tony_Blair", 2), ("George_W_Bush", 3),
                                                                ("Serena_Williams", 1)]]
    images.append(compose_frame([images[0], images[1]], [(40, 100), (350, 120)]))
    for image in images:
        boxes, probs, points = reference.detect(image, landmarks=True)
        ours, our_points = detect_one(image, reference.pnet, reference.rnet, reference.onet, 20)
        boxes = np.asarray(np.stack(list(boxes)), float)
        assert len(ours) == len(boxes) >= 1
        order, our_order = np.lexsort(boxes.T), np.lexsort(ours[:, :4].T)
        np.testing.assert_allclose(ours[our_order, :4], boxes[order], atol=1e-3)
        np.testing.assert_allclose(ours[our_order, 4], np.asarray(list(probs), float)[order], atol=1e-4)
        np.testing.assert_allclose(our_points[our_order], np.asarray(np.stack(list(points)), float)[order], atol=1e-3)


def test_our_mtcnn_networks_are_facenet_pytorchs(lfw_dir):
    """The networks defined in mtcnn_nets, with the wheel's weights read as plain tensors, give
    facenet-pytorch's own outputs on a real photo's crops and pyramid level."""
    import torch
    from facenet_pytorch import MTCNN

    from facerec_core.mtcnn_nets import load_nets

    reference = MTCNN(keep_all=True)
    image = torch.from_numpy(np.array(load_image(lfw_photo(lfw_dir, "Colin_Powell", 1)))).permute(2, 0, 1)[None].float()
    x = (image - 127.5) * 0.0078125
    inputs = [x[:, :, 50:130, 60:140], torch.nn.functional.interpolate(x[:, :, 70:190, 70:190], size=24),
              torch.nn.functional.interpolate(x[:, :, 70:190, 70:190], size=48)]
    with torch.inference_mode():
        for ours, theirs, batch in zip(load_nets(), (reference.pnet, reference.rnet, reference.onet), inputs):
            for a, b in zip(ours(batch), theirs(batch)):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_predict_without_a_model_imports_neither_sklearn_nor_torchvision(lfw_dir, tmp_path):
    """The cold path of ``predict --no-model`` stays off scikit-learn and torchvision (1.5-2 s of
    imports together): the detector and the default backbone need neither."""
    import json
    import os
    import subprocess
    import sys

    photo = lfw_photo(lfw_dir, "Colin_Powell", 1)
    code = ("import sys, runpy\n"
            "sys.argv = ['facerec', 'predict', '--no-model', sys.argv[1]]\n"
            "try:\n    runpy.run_module('facerec_core', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "import json\n"
            "print(json.dumps(sorted(m for m in ('sklearn', 'torchvision', 'skops', 'streamlit', 'plotly') "
            "if m in sys.modules)))\n")
    env = {**os.environ, "FACEREC_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", code, str(photo)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"faces"' in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
