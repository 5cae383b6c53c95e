"""Dataset sizes: `demo` (the default), `train` (to learn an aggregator), `bench`, `mcs2019` and `tiny` (tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """How many persons and tracks each part of a dataset has, and the metric it is scored with.

    A person has tracks in one part only. `references` reference images per test person;
    `fpr` the FPR targets of competition.yaml, `primary_fpr` the one the leaderboard shows.
    """

    name: str
    train_persons: int
    train_tracks: int
    public_persons: int
    public_tracks: int
    private_persons: int
    private_tracks: int
    references: int
    fpr: tuple[float, ...]
    primary_fpr: float

    def __post_init__(self) -> None:
        """Raise ValueError when a part has fewer tracks than persons or a subset fewer than 2 persons."""
        for part in ("train", "public", "private"):
            persons, tracks = getattr(self, f"{part}_persons"), getattr(self, f"{part}_tracks")
            if persons < (1 if part == "train" else 2) or tracks < persons:
                raise ValueError(
                    f"preset {self.name}: {part} must have at least 2 persons and a track per person, "
                    f"got {persons} persons and {tracks} tracks"
                )
        if self.references < 1:
            raise ValueError(f"preset {self.name}: references must be at least 1, got {self.references}")

    def negatives(self, subset: str) -> int:
        """Return the number of negative pairs of `subset` (public or private): tracks x references of other persons."""
        persons, tracks = getattr(self, f"{subset}_persons"), getattr(self, f"{subset}_tracks")
        return tracks * (persons - 1) * self.references


PRESETS: dict[str, Preset] = {
    # Both subsets hold over 100,000 negative pairs, so FPR=1e-5 is resolvable; about 3,500
    # test images, which the CPU baseline encodes in under a minute on two cores.
    "demo": Preset(
        name="demo",
        train_persons=30,
        train_tracks=60,
        public_persons=110,
        public_tracks=200,
        private_persons=150,
        private_tracks=150,
        references=5,
        fpr=(1e-5, 1e-4, 1e-3),
        primary_fpr=1e-5,
    ),
    # Enough train tracks to learn an aggregator (make train-aggregator) in minutes, with
    # demo's test sizes so `make eval` stays about a minute.
    "train": Preset(
        name="train",
        train_persons=400,
        train_tracks=2000,
        public_persons=110,
        public_tracks=200,
        private_persons=150,
        private_tracks=150,
        references=5,
        fpr=(1e-5, 1e-4, 1e-3),
        primary_fpr=1e-5,
    ),
    # The fixed dataset of the aggregator bench (make bench: data/bench, seed 0): identity
    # switches like every preset, 1,000 train tracks of 200 persons (40 of them held out to
    # pick the learned aggregators' epoch), and 104,250 / 111,750 negative pairs, so
    # FPR=1e-5 resolves; about 2 minutes here.
    "bench": Preset(
        name="bench",
        train_persons=200,
        train_tracks=1000,
        public_persons=140,
        public_tracks=150,
        private_persons=150,
        private_tracks=150,
        references=5,
        fpr=(1e-5, 1e-4, 1e-3),
        primary_fpr=1e-5,
    ),
    # MCS2019's sizes. Train: 15,442 tracks of 935 persons, from the organizers' files
    # (train_df_descriptors.npy is 154,420 x 512: ten frames per track). Public: 4,025 tracks
    # of 275 persons. Private: 4,025 tracks of 4,025 persons, one track each, as the
    # organizers' slides give it (shared/seeds: "4025 tracks of UNIQUE persons"); 81 million
    # negative pairs, so FPR=1e-6 resolves. References: 5 per person is this generator's
    # choice, not a published figure.
    "mcs2019": Preset(
        name="mcs2019",
        train_persons=935,
        train_tracks=15442,
        public_persons=275,
        public_tracks=4025,
        private_persons=4025,
        private_tracks=4025,
        references=5,
        fpr=(1e-6, 1e-5, 1e-4),
        primary_fpr=1e-6,
    ),
    # Seconds, for tests: too few pairs for small FPR targets, so they are coarse.
    "tiny": Preset(
        name="tiny",
        train_persons=2,
        train_tracks=3,
        public_persons=3,
        public_tracks=5,
        private_persons=3,
        private_tracks=3,
        references=2,
        fpr=(0.1, 0.2),
        primary_fpr=0.1,
    ),
}
