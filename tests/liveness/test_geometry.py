"""The landmark geometry on exact, hand-made points: eye opening, head pose, homographies."""
from __future__ import annotations

import numpy as np
import pytest

from facerec_core.liveness.geometry import eye_aspect_ratio, fit_homography, flatness_residual, head_pose
from tests.liveness.conftest import posed_landmarks


@pytest.mark.parametrize("ear", [0.1, 0.25, 0.35])
def test_eye_aspect_ratio_reads_the_lid_gap_over_the_eye_width(ear):
    assert eye_aspect_ratio(posed_landmarks(ear=ear)) == pytest.approx(ear, abs=1e-6)


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (25, 0), (-25, 0), (0, 15), (0, -15), (30, 10)])
def test_head_pose_recovers_the_generic_head_turned_and_tilted(yaw, pitch):
    pose = head_pose(posed_landmarks(yaw, pitch))
    assert pose.yaw == pytest.approx(yaw, abs=3.0)
    assert pose.pitch == pytest.approx(pitch, abs=3.0)


def test_turning_to_the_persons_left_moves_the_nose_to_the_image_right():
    def nose_offset(points):  # the nose tip against the outer eye corners' midpoint, unmirrored image
        return points[30, 0] - (points[36, 0] + points[45, 0]) / 2

    left = posed_landmarks(yaw=25)
    assert nose_offset(left) > 0 == pytest.approx(nose_offset(posed_landmarks()))
    assert head_pose(left).yaw > 0


def test_landmarks_are_checked():
    with pytest.raises(ValueError, match="68"):
        eye_aspect_ratio(np.zeros((5, 2)))


def test_a_homography_is_recovered_and_a_flat_picture_leaves_no_residual():
    rng = np.random.default_rng(0)
    before = rng.uniform(100, 300, size=(68, 2))
    true = np.array([[1.1, 0.2, 5.0], [-0.1, 0.9, -3.0], [0.0004, -0.0002, 1.0]])
    after = np.c_[before, np.ones(68)] @ true.T
    after = after[:, :2] / after[:, 2:]
    assert np.allclose(fit_homography(before, after), true, atol=1e-6)
    assert flatness_residual(before, after) < 1e-6
