"""The names of MCS2019's original files and columns (the organizers' copy of the challenge data).

One row per frame in `test_df.csv` and `train_df.csv`; one row per track, in the order a
submission answers, in `track_order_df.csv`; one row per reference image in
`test_gt_df.csv`, aligned row for row with `gt_descriptors.npy`; `train_df_descriptors.npy`
is aligned row for row with `train_df.csv`. The train persons' references, when given, are
one row per reference image in `train_gt_df.csv` (the columns of `test_gt_df.csv`), aligned
row for row with `train_gt_descriptors.npy`. Image paths in the tables are relative to the
`data/` folder beside them, as in the MCS2019 baseline.
"""

from typing import Final

TEST_TABLE: Final = "test_df.csv"
TRACK_ORDER: Final = "track_order_df.csv"
REFERENCE_TABLE: Final = "test_gt_df.csv"
REFERENCE_DESCRIPTORS: Final = "gt_descriptors.npy"
TRAIN_TABLE: Final = "train_df.csv"
TRAIN_DESCRIPTORS: Final = "train_df_descriptors.npy"
#: Optional: the train persons' references; both or neither.
TRAIN_REFERENCE_TABLE: Final = "train_gt_df.csv"
TRAIN_REFERENCE_DESCRIPTORS: Final = "train_gt_descriptors.npy"
IMAGES_DIR: Final = "data"

CROP_PATH: Final = "crop_path"
WARP_PATH: Final = "warp_path"
PERSON_ID: Final = "person_id"
VIDEO_ID: Final = "video_id"
TRACK_ID: Final = "track_id"
FRAME_ID: Final = "frame_id"
IS_VAL: Final = "is_val"

#: Every column of test_df.csv and train_df.csv, in the original order.
FRAME_COLUMNS: Final[tuple[str, ...]] = (
    CROP_PATH,
    WARP_PATH,
    PERSON_ID,
    VIDEO_ID,
    TRACK_ID,
    FRAME_ID,
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    *(f"x{i}" for i in range(5)),
    *(f"y{i}" for i in range(5)),
    IS_VAL,
)
ORDER_COLUMNS: Final[tuple[str, str]] = (TRACK_ID, PERSON_ID)
REFERENCE_COLUMNS: Final[tuple[str, str, str]] = (CROP_PATH, WARP_PATH, PERSON_ID)

#: What the importer reads of each table; the other columns may be absent.
TEST_NEEDS: Final[tuple[str, ...]] = (WARP_PATH, TRACK_ID, FRAME_ID, IS_VAL)
TRAIN_NEEDS: Final[tuple[str, ...]] = (WARP_PATH, PERSON_ID, TRACK_ID, FRAME_ID)
ORDER_NEEDS: Final[tuple[str, ...]] = ORDER_COLUMNS
REFERENCE_NEEDS: Final[tuple[str, ...]] = (PERSON_ID,)
#: Columns read as text: ids stay the original strings (md5 hex in MCS2019), never numbers.
TEXT_COLUMNS: Final[tuple[str, ...]] = (CROP_PATH, WARP_PATH, PERSON_ID, VIDEO_ID, TRACK_ID, IS_VAL)
