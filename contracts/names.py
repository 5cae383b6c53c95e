"""File names, folder names, column names and array keys of the data and output contracts.

See docs/design.md. Every place that reads or writes one of these files takes the name from
here, so a rename is one edit.
"""

from typing import Final

# --- dataset: data/<name>/ -------------------------------------------------------------
COMPETITION_FILE: Final = "competition.yaml"
TEST_DIR: Final = "test"
TRAIN_DIR: Final = "train"
GT_DIR: Final = "gt"

TRACKS_FILE: Final = "tracks.csv"
TRACK_COLUMNS: Final[tuple[str, str, str]] = ("track_id", "frame", "path")
TRAIN_TRACK_COLUMNS: Final[tuple[str, str, str, str]] = ("track_id", "frame", "path", "person_id")
TRAIN_DESCRIPTORS_FILE: Final = "frame_descriptors.npz"

REFERENCES_FILE: Final = "references.npz"
TEST_LABELS_FILE: Final = "test_labels.csv"
LABEL_COLUMNS: Final[tuple[str, str, str]] = ("track_id", "person_id", "subset")
PUBLIC: Final = "public"
PRIVATE: Final = "private"
SUBSETS: Final[tuple[str, str]] = (PUBLIC, PRIVATE)

FRAMES_PER_TRACK: Final = 10
IMAGE_SIZE: Final = 112

# --- array keys ---------------------------------------------------------------------------
TRACK_ID_KEY: Final = "track_id"
DESCRIPTOR_KEY: Final = "descriptor"
PERSON_ID_KEY: Final = "person_id"

# --- run directory: RUN_DIR/ ---------------------------------------------------------------
OUTPUT_DIR: Final = "output"
DESCRIPTORS_FILE: Final = "descriptors.npz"
SOLUTION_REPORT_FILE: Final = "solution.json"
PROGRESS_FILE: Final = "progress.json"
RUN_REPORT_FILE: Final = "run.json"
LOG_FILE: Final = "log.txt"
#: The bounded view of log.txt a participant may read (the full log stays with the organizers).
PARTICIPANT_LOG_FILE: Final = "log.participant.txt"
SCORE_FILE: Final = "score.json"
METRICS_FILE: Final = "metrics.txt"
ROC_FILE: Final = "roc.png"

# --- paths inside the container --------------------------------------------------------------
CONTAINER_DATA: Final = "/data"
CONTAINER_OUTPUT: Final = "/output"
CONTAINER_SUBMISSION: Final = "/submission"
