"""The synthetic data generator: its output follows the contract, is deterministic and separates people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from contracts.competition import load_competition
from contracts.names import (
    COMPETITION_FILE,
    DESCRIPTOR_KEY,
    GT_DIR,
    LABEL_COLUMNS,
    PERSON_ID_KEY,
    PRIVATE,
    PUBLIC,
    REFERENCES_FILE,
    TEST_DIR,
    TEST_LABELS_FILE,
    TRACK_COLUMNS,
    TRACKS_FILE,
    TRAIN_DIR,
    TRAIN_TRACK_COLUMNS,
)
from evaluate.checkdata import check_dataset
from evaluate.cli import main
from evaluate.datagen.encoder import ENCODER_PATH, Encoder
from evaluate.datagen.presets import PRESETS, Preset
from evaluate.datagen.switches import VideoStyle
from evaluate.datagen.writer import SWITCHES_FILE, generate
from evaluate.groundtruth import load_groundtruth

TINY = PRESETS["tiny"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "data"
    generate(out, TINY, seed=0, progress=False)
    return out


def test_the_checker_and_the_scorer_accept_a_generated_dataset(tiny: Path) -> None:
    assert check_dataset(tiny).findings == []
    assert load_competition(tiny / COMPETITION_FILE).metric.primary_fpr == TINY.primary_fpr
    assert "  negatives: subset\n" in (tiny / COMPETITION_FILE).read_text()
    truth = load_groundtruth(tiny / GT_DIR)
    assert truth.dim == 128
    assert truth.track_id.size == TINY.public_tracks + TINY.private_tracks


def test_sizes_follow_the_preset(tiny: Path) -> None:
    labels = pd.read_csv(tiny / GT_DIR / TEST_LABELS_FILE)
    for subset, persons, tracks in ((PUBLIC, TINY.public_persons, TINY.public_tracks), (PRIVATE, 3, 3)):
        part = labels[labels.subset == subset]
        assert (part.person_id.nunique(), len(part)) == (persons, tracks)
    train = pd.read_csv(tiny / TRAIN_DIR / TRACKS_FILE)
    assert list(train.columns) == list(TRAIN_TRACK_COLUMNS)
    assert (train.person_id.nunique(), train.track_id.nunique()) == (TINY.train_persons, TINY.train_tracks)
    with np.load(tiny / GT_DIR / REFERENCES_FILE) as refs:
        counts = pd.Series(refs[PERSON_ID_KEY]).value_counts()
        assert refs[DESCRIPTOR_KEY].dtype == np.float32
    assert (counts == TINY.references).all() and len(counts) == labels.person_id.nunique()


def test_persons_are_in_one_part_only(tiny: Path) -> None:
    labels = pd.read_csv(tiny / GT_DIR / TEST_LABELS_FILE)
    public = set(labels.person_id[labels.subset == PUBLIC])
    private = set(labels.person_id[labels.subset == PRIVATE])
    train = set(pd.read_csv(tiny / TRAIN_DIR / TRACKS_FILE).person_id)
    assert not public & private and not train & (public | private)


def test_nothing_under_test_tells_a_label(tiny: Path) -> None:
    tracks = pd.read_csv(tiny / TEST_DIR / TRACKS_FILE)
    assert list(tracks.columns) == list(TRACK_COLUMNS)
    named = {TRACKS_FILE, *tracks.path}
    assert set(_files(tiny / TEST_DIR)) == named
    labels = pd.read_csv(tiny / GT_DIR / TEST_LABELS_FILE)
    assert list(labels.columns) == list(LABEL_COLUMNS)
    # Track ids are a permutation: they do not run subset by subset.
    subsets = labels.sort_values("track_id").subset.tolist()
    assert subsets != sorted(subsets) and subsets != sorted(subsets, reverse=True)


def test_frames_are_aligned_112_pixel_rgb_jpegs(tiny: Path) -> None:
    for path in (tiny / TEST_DIR).rglob("*.jpg"):
        with Image.open(path) as image:
            assert (image.format, image.size, image.mode) == ("JPEG", (112, 112), "RGB")


def test_references_of_one_person_are_closer_than_those_of_two(tiny: Path) -> None:
    with np.load(tiny / GT_DIR / REFERENCES_FILE) as refs:
        person, descriptor = refs[PERSON_ID_KEY], refs[DESCRIPTOR_KEY].astype(np.float64)
    distances = np.linalg.norm(descriptor[:, None] - descriptor[None], axis=2)
    same = person[:, None] == person[None]
    np.fill_diagonal(same, False)
    different = person[:, None] != person[None]
    assert distances[same].max() < distances[different].min()


def test_references_are_unit_vectors_like_the_baselines_track_descriptors(tiny: Path) -> None:
    """The raw encoder output has norm ~1.43: unnormalized references would reward rescaling, not recognition."""
    with np.load(tiny / GT_DIR / REFERENCES_FILE) as refs:
        norms = np.linalg.norm(refs[DESCRIPTOR_KEY].astype(np.float64), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_the_same_seed_gives_the_same_bytes(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, TINY, seed=0, progress=False)
    assert _files(again) == _files(tiny)


def test_inline_encoding_with_the_encoder_given_as_bytes_gives_the_same_bytes(tiny: Path, tmp_path: Path) -> None:
    inline = tmp_path / "inline"
    encoder = Encoder(ENCODER_PATH.read_bytes())
    generate(inline, TINY, seed=0, progress=False, encoder=encoder, background_encoding=False)
    assert _files(inline) == _files(tiny)


def test_another_seed_gives_other_people_and_frames(tiny: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(other, TINY, seed=1, progress=False)
    first, second = _files(tiny), _files(other)
    assert first[f"{GT_DIR}/{REFERENCES_FILE}"] != second[f"{GT_DIR}/{REFERENCES_FILE}"]
    shared_images = [name for name in first if name.endswith(".jpg") and name in second]
    assert shared_images and all(first[name] != second[name] for name in shared_images)


def test_make_data_refuses_to_overwrite_without_force(tiny: Path) -> None:
    result = CliRunner().invoke(main, ["make-data", "--preset", "tiny", "--out", str(tiny), "--quiet"])
    assert result.exit_code == 3
    assert "must not exist yet" in result.output and "--force" in result.output


def test_make_data_will_not_replace_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["make-data", "--preset", "tiny", "--out", str(tmp_path), "--force", "--quiet"])
    assert result.exit_code == 3
    assert "must be a dataset" in result.output
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_make_data_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    result = CliRunner().invoke(main, ["make-data", "--preset", "tiny", "--seed", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"public negative pairs: {TINY.negatives(PUBLIC):,}" in result.output
    assert (out / COMPETITION_FILE).is_file()
    assert not list(tmp_path.glob(".*partial"))


def test_a_preset_needs_two_persons_per_subset() -> None:
    with pytest.raises(ValueError, match="public must have at least 2 persons"):
        Preset("bad", 1, 1, 1, 1, 2, 2, 5, (0.1,), 0.1)


def test_the_demo_preset_resolves_fpr_1e_5_on_both_subsets() -> None:
    demo = PRESETS["demo"]
    assert demo.negatives(PUBLIC) >= 100_000 and demo.negatives(PRIVATE) >= 100_000


def test_the_mcs2019_preset_has_the_real_sizes() -> None:
    mcs = PRESETS["mcs2019"]
    assert (mcs.train_tracks, mcs.train_persons) == (15_442, 935)
    assert mcs.train_tracks * 10 == 154_420  # the rows of MCS2019's train_df_descriptors.npy
    assert (mcs.public_tracks, mcs.public_persons) == (4025, 275)
    # The private subset as the organizers' slides give it: every track a person of its own.
    assert (mcs.private_tracks, mcs.private_persons) == (4025, 4025)
    assert mcs.negatives(PRIVATE) >= 1_000_000  # FPR=1e-6 resolves
    assert mcs.references == 5


@pytest.fixture(scope="module")
def switching(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("switching") / "data"
    generate(out, TINY, seed=1, progress=False, video_style=VideoStyle(switch_rate=1.0, label_noise=0.5))
    return out


def test_switched_frames_show_the_person_written_before_and_are_recorded_in_gt(switching: Path) -> None:
    assert check_dataset(switching).findings == []
    switches = pd.read_csv(switching / GT_DIR / SWITCHES_FILE)
    labels = pd.read_csv(switching / GT_DIR / TEST_LABELS_FILE)
    test_switches = switches[switches.part != "train"]
    # Every test track switches but those of the first person of each subset, who has nobody before.
    first = labels.groupby("subset").person_id.first()
    assert set(test_switches.track_id) == set(labels.track_id[~labels.person_id.isin(first)])
    assert test_switches.groupby("track_id").size().between(1, 3).all()
    person_of = dict(zip(labels.track_id, labels.person_id, strict=True))
    assert all(person_of[t] != p for t, p in zip(test_switches.track_id, test_switches.person_id, strict=True))
    subset_of = dict(zip(labels.person_id, labels.subset, strict=True))
    assert all(subset_of[p] == part for p, part in zip(test_switches.person_id, test_switches.part, strict=True))


def test_train_has_references_of_its_persons_and_noisy_labels_recorded_in_gt(switching: Path) -> None:
    tracks = pd.read_csv(switching / TRAIN_DIR / TRACKS_FILE).drop_duplicates("track_id")
    with np.load(switching / TRAIN_DIR / REFERENCES_FILE) as arrays:
        persons, descriptors = arrays[PERSON_ID_KEY], arrays[DESCRIPTOR_KEY]
    assert np.unique(persons).size == TINY.train_persons and set(tracks.person_id) <= set(persons)
    assert persons.size == TINY.references * TINY.train_persons
    np.testing.assert_allclose(np.linalg.norm(descriptors, axis=1), 1.0, rtol=1e-5)
    noise = pd.read_csv(switching / GT_DIR / "train_label_noise.csv")
    written = dict(zip(tracks.track_id, tracks.person_id, strict=True))
    assert all(written[t] == labelled != p for t, p, labelled in noise.itertuples(index=False))


def test_a_video_style_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"switch_rate must be in \[0, 1\], got 1.5"):
        VideoStyle(switch_rate=1.5)
    with pytest.raises(ValueError, match=r"switch_frames must be \(low, high\) with 1 <= low <= high, got \(0, 2\)"):
        VideoStyle(switch_frames=(0, 2))


def test_make_data_warns_when_a_sibling_dataset_shares_the_seed(tmp_path: Path) -> None:
    sibling = tmp_path / "demo"
    sibling.mkdir()
    (sibling / COMPETITION_FILE).write_text(
        "# Synthetic challenge data: python -m evaluate make-data --preset demo --seed 3\n"
    )
    same = tmp_path / "again"
    same.mkdir()
    (same / COMPETITION_FILE).write_text(
        "# Synthetic challenge data: python -m evaluate make-data --preset demo --seed 4\n"
    )
    out = tmp_path / "tiny"
    result = CliRunner().invoke(main, ["make-data", "--preset", "tiny", "--seed", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 1
    assert f"warning: {sibling} (preset demo) was made with the same seed 3, so the two share persons" in result.stderr


def test_the_train_and_bench_presets_sit_between_demo_and_mcs2019() -> None:
    train, bench = PRESETS["train"], PRESETS["bench"]
    assert 2000 <= train.train_tracks <= 4000
    assert PRESETS["demo"].train_tracks < bench.train_tracks < train.train_tracks < PRESETS["mcs2019"].train_tracks
    for preset in (train, bench):
        assert preset.negatives(PUBLIC) >= 100_000 and preset.negatives(PRIVATE) >= 100_000
