"""Baseline submission for the MCS2019-style video face recognition challenge.

Reads the test tracks (tracks.csv: track_id,frame,path; 10 aligned 112x112 face crops a
track), runs models/encoder.onnx on every image and models/aggregator.onnx over each
track's frame descriptors, and writes one descriptor per track to descriptors.npz.

    python solution.py [--data DIR] [--output DIR] [--batch-size N]

Defaults: $DATA_DIR or /data, $OUTPUT_DIR or /output. The runner sets $TIME_LIMIT_S to the
run's time limit in seconds, shown on the progress line (900, DevBattle's, without it). Runs inside the submission
container on Python 3.8, numpy 1.24, onnxruntime-gpu 1.16 and Pillow 10: it imports
nothing else, so a participant can change any part of it. The GPU is used when ONNX
Runtime can reach it; set USE_TENSORRT=1 to try TensorRT first.

Output folder, when the run succeeds:
  descriptors.npz   track_id [N], descriptor float32 [N, D], in tracks.csv order; track_id
                    is int64 when every id of tracks.csv is an integer, else the ids as
                    written, as numpy unicode strings (MCS2019's md5 ids)
  solution.json     what ran (execution provider, batch size, threads) and how fast
  progress.json     rewritten about once a second while running, for the runner's live line
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

MODELS_DIR = Path(__file__).resolve().parent / "models"
ENCODER_FILE = "encoder.onnx"
AGGREGATOR_FILE = "aggregator.onnx"
IMAGE_SIZE = 112
# The runner passes the run's limit in this variable; DevBattle's 15 minutes without it.
TIME_LIMIT_ENV = "TIME_LIMIT_S"
DEFAULT_TIME_LIMIT_S = 900.0
TRACK_COLUMNS = ("track_id", "frame", "path")
# An id written as str(int(id)) would write it: "00123", "+5" and "1e10" are text.
CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

DESCRIPTORS_FILE = "descriptors.npz"
SOLUTION_REPORT_FILE = "solution.json"
PROGRESS_FILE = "progress.json"

# Batches decoded ahead of the encoder: enough to hide decoding, few enough that memory
# stays bounded however many images the test set holds.
BATCHES_AHEAD = 3
PROGRESS_EVERY_S = 1.0
LOG_EVERY_S = 5.0


class BadInput(Exception):
    """The data or the models break the contract; the message names the problem."""


def log(message: str) -> None:
    """Print one timestamped line on stderr."""
    print(time.strftime("%H:%M:%S ") + message, file=sys.stderr, flush=True)


def time_limit_s() -> float:
    """Return the run's time limit in seconds: $TIME_LIMIT_S when it is a positive number, else 900.

    A value that is not a positive number is reported in one line and replaced by the default.
    """
    text = os.environ.get(TIME_LIMIT_ENV)
    if text is None:
        return DEFAULT_TIME_LIMIT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        log(f"${TIME_LIMIT_ENV} must be a positive number of seconds, got {text!r}: using {DEFAULT_TIME_LIMIT_S:.0f}")
        return DEFAULT_TIME_LIMIT_S
    return value


# --- reading the tracks ---------------------------------------------------------------------


def read_tracks(data_dir: Path) -> collections.OrderedDict[str, list[Path]]:
    """Return {track_id as written: [image path, ...] in frame order}, tracks in tracks.csv order.

    Raises BadInput when tracks.csv is missing, lacks a column, holds an empty id or a
    non-integer frame, repeats a frame, names an image that does not exist, or has no rows.
    """
    tracks_csv = data_dir / "tracks.csv"
    if not tracks_csv.is_file():
        raise BadInput(f"{tracks_csv} does not exist: --data must be the test folder holding tracks.csv")
    frames: collections.OrderedDict[str, dict[int, Path]] = collections.OrderedDict()
    with tracks_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in TRACK_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(
                "{} must have the columns {}, missing {}".format(tracks_csv, ",".join(TRACK_COLUMNS), ",".join(missing))
            )
        for line, row in enumerate(reader, start=2):
            # Kept as text: an md5 id must not be read as a number.
            track_id = row["track_id"] or ""
            if not track_id:
                raise BadInput(f"{tracks_csv} line {line}: track_id must not be empty")
            frame = _integer(row["frame"], "frame", tracks_csv, line)
            if not row["path"]:
                raise BadInput(f"{tracks_csv} line {line}: path must not be empty")
            track = frames.setdefault(track_id, {})
            if frame in track:
                raise BadInput(f"{tracks_csv} line {line}: track {track_id} has frame {frame} twice")
            track[frame] = data_dir / row["path"]
    if not frames:
        raise BadInput(f"{tracks_csv} has no tracks: it must hold one row per frame")
    tracks: collections.OrderedDict[str, list[Path]] = collections.OrderedDict()
    for track_id, track in frames.items():
        tracks[track_id] = [track[frame] for frame in sorted(track)]
    return tracks


def _integer(text: str | None, column: str, tracks_csv: Path, line: int) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise BadInput(f'{tracks_csv} line {line}: {column} must be an integer, got "{text}"') from None


def track_id_array(track_ids: list[str]) -> np.ndarray:
    """Return the ids of tracks.csv in its own kind: int64 when every one is an integer, else unicode strings.

    An id is an integer when it is written as Python writes an int64 (no sign "+", no
    leading zero); otherwise every id stays exactly the text of tracks.csv, as the scorer
    reads it.
    """
    if all(CANONICAL_INTEGER.fullmatch(track_id) for track_id in track_ids):
        numbers = [int(track_id) for track_id in track_ids]
        if all(INT64_MIN <= number <= INT64_MAX for number in numbers):
            return np.array(numbers, dtype=np.int64)
    return np.array(track_ids, dtype=str)


def decode_image(path: Path) -> np.ndarray:
    """Return the image at `path` as uint8 [112, 112, 3] RGB.

    Raises BadInput, naming the file, when it is missing, not an image, or not a 112x112
    RGB (or grayscale) image.
    """
    try:
        with Image.open(path) as image:
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise BadInput(
                    f"{path} is {image.size[0]}x{image.size[1]}: "
                    f"every image must be an aligned {IMAGE_SIZE}x{IMAGE_SIZE} crop"
                )
            if image.mode not in ("RGB", "L"):
                raise BadInput(f"{path} has mode {image.mode}: images must be RGB (or grayscale)")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise BadInput(f"{path} does not exist: tracks.csv names it") from None
    except OSError as exc:
        raise BadInput(f"{path} cannot be read as an image: {exc}") from None


# --- the models -------------------------------------------------------------------------------


def choose_providers() -> list[str]:
    """Return the execution providers to ask ONNX Runtime for, best first.

    CUDA when this onnxruntime build has it; TensorRT before it only when USE_TENSORRT=1
    (its engine build takes minutes, which counts against the time limit); CPU always last.
    """
    available = ort.get_available_providers()
    if os.environ.get("ORT_VERBOSE") != "1":
        # onnxruntime prints several lines per session when CUDA cannot load; one line of ours says it.
        ort.set_default_logger_severity(4)
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if os.environ.get("USE_TENSORRT") == "1":
        wanted.insert(0, "TensorrtExecutionProvider")
    return [p for p in wanted if p in available]


def cpu_threads() -> int:
    """Return the number of CPUs this process may use: the cgroup quota when one is set."""
    quota: float | None = None
    try:  # cgroup v2
        max_, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if max_ != "max":
            quota = int(max_) / int(period)
    except (OSError, ValueError):
        try:  # cgroup v1
            max_ = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text().strip()
            period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
            if int(max_) > 0:
                quota = int(max_) / int(period)
        except (OSError, ValueError):
            pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(affinity, int(quota)) if quota else affinity)


def load_model(
    path: Path,
    inputs: Sequence[tuple[str, str, int]],
    outputs: Sequence[tuple[str, str, int]],
    providers: list[str],
    threads: int,
) -> ort.InferenceSession:
    """Open an ONNX model and check its signature: (name, type, rank) of each input and output.

    Raises BadInput when the file is missing, not a model, or its signature differs.
    """
    if not path.is_file():
        raise BadInput(f"model {path} does not exist: models/ must ship {path.name}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # the CPU fallback is reported once, by this script
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types per failure
        raise BadInput(f"model {path} cannot be loaded: {str(exc).splitlines()[0]}") from None
    for kind, wanted, found in (("input", inputs, session.get_inputs()), ("output", outputs, session.get_outputs())):
        got = [(node.name, node.type, len(node.shape)) for node in found]
        if got != list(wanted):
            raise BadInput(f"model {path.name} has {kind}s {got}, expected {list(wanted)} (name, type, rank)")
    return session


# --- the pipeline -----------------------------------------------------------------------------


def decoded_batches(
    paths: list[Path], batch_size: int, workers: int, decode_seconds: list[float]
) -> Iterator[np.ndarray]:
    """Yield uint8 [n, 112, 112, 3] batches of `paths` in order, decoded by a thread pool.

    At most BATCHES_AHEAD batches are decoding or waiting at once, so memory stays bounded
    while the encoder works on the current one. Appends each batch's decoding time to
    `decode_seconds`. Raises BadInput from the first bad image.
    """
    starts = range(0, len(paths), batch_size)

    def decode_batch(start: int) -> np.ndarray:
        began = time.monotonic()
        batch = np.stack([decode_image(p) for p in paths[start : start + batch_size]])
        decode_seconds.append(time.monotonic() - began)  # list.append is atomic across threads
        return batch

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[concurrent.futures.Future[np.ndarray]] = collections.deque()
        for start in starts:
            pending.append(pool.submit(decode_batch, start))
            if len(pending) > BATCHES_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class Progress:
    """Reports progress: a line on stderr and progress.json in the output folder."""

    def __init__(
        self, output_dir: Path, tracks_total: int, images_total: int, frames_per_track: float, limit_s: float
    ) -> None:
        self.output_dir = output_dir
        self.limit_s = limit_s
        self.tracks_total = tracks_total
        self.images_total = images_total
        self.frames_per_track = frames_per_track
        self.started = time.monotonic()
        self.last_file = 0.0
        self.last_line = 0.0

    def update(self, images_done: int, final: bool = False) -> None:
        """Record that `images_done` images are encoded; write at most about once a second."""
        now = time.monotonic()
        elapsed = now - self.started
        if not final and now - self.last_file < PROGRESS_EVERY_S:
            return
        self.last_file = now
        rate = images_done / elapsed if elapsed > 0 else 0.0
        tracks_done = min(self.tracks_total, int(images_done / self.frames_per_track))
        state = {
            "tracks_done": tracks_done,
            "tracks_total": self.tracks_total,
            "images_done": images_done,
            "images_total": self.images_total,
            "images_per_s": round(rate, 2),
            "elapsed_s": round(elapsed, 2),
        }
        write_json_atomically(self.output_dir / PROGRESS_FILE, state)
        if final or now - self.last_line >= LOG_EVERY_S or sys.stderr.isatty():
            self.last_line = now
            left = (self.images_total - images_done) / rate if rate > 0 else float("inf")
            line = (
                f"tracks {tracks_done}/{self.tracks_total}  {rate:.1f} images/s  "
                f"elapsed {elapsed:.0f}s  ETA {left:.0f}s (limit {self.limit_s:.0f}s)"
            )
            if sys.stderr.isatty() and not final:
                print("\r" + line, end="", file=sys.stderr, flush=True)
            else:
                log(line)


def encode_images(
    encoder: ort.InferenceSession,
    paths: list[Path],
    batch_size: int,
    workers: int,
    progress: Progress,
    timings: dict[str, float],
) -> np.ndarray:
    """Return the float32 [len(paths), D] descriptors of every image, in order.

    Adds decode_s and waiting_for_decode_s (time the encoder sat idle) to `timings`.
    """
    input_name = encoder.get_inputs()[0].name
    descriptors: list[np.ndarray] = []
    done = 0
    waited = 0.0
    decode_seconds: list[float] = []
    batches = decoded_batches(paths, batch_size, workers, decode_seconds)
    while True:
        started = time.monotonic()
        batch = next(batches, None)
        waited += time.monotonic() - started
        if batch is None:
            break
        descriptors.append(encoder.run(None, {input_name: batch})[0])
        done += len(batch)
        progress.update(done)
    # Summed over the decoding threads, so it may exceed the wall time of the encoding phase.
    timings["decode_s"] = sum(decode_seconds)
    timings["waiting_for_decode_s"] = waited
    return np.concatenate(descriptors).astype(np.float32, copy=False)


def aggregate(aggregator: ort.InferenceSession, frame_descriptors: np.ndarray, frame_counts: list[int]) -> np.ndarray:
    """Return one descriptor per track from the frames' descriptors (tracks in order).

    Tracks with the same number of frames go through the aggregator together.
    """
    input_name = aggregator.get_inputs()[0].name
    offsets = np.concatenate([[0], np.cumsum(frame_counts)])
    result = np.empty((len(frame_counts), frame_descriptors.shape[1]), dtype=np.float32)
    counts = np.asarray(frame_counts)
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        index = offsets[rows][:, None] + np.arange(count)[None, :]
        result[rows] = aggregator.run(None, {input_name: frame_descriptors[index]})[0]
    return result


# --- writing ------------------------------------------------------------------------------------


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write `document` as JSON to `path` through a temporary file and a rename."""
    temporary = path.with_name("." + path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(str(temporary), str(path))


def write_descriptors(path: Path, track_ids: np.ndarray, descriptors: np.ndarray) -> None:
    """Write descriptors.npz atomically, so a crash never leaves a partial file behind."""
    temporary = path.with_name("." + path.name + ".tmp")
    with temporary.open("wb") as handle:
        np.savez(handle, track_id=track_ids, descriptor=descriptors)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(str(temporary), str(path))


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; defaults come from DATA_DIR / OUTPUT_DIR, then /data and /output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("DATA_DIR", "/data")),
        help="test folder holding tracks.csv and the images (default: $DATA_DIR or /data)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(os.environ.get("OUTPUT_DIR", "/output")),
        help="folder to write descriptors.npz into (default: $OUTPUT_DIR or /output)",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=MODELS_DIR,
        help="folder holding encoder.onnx and aggregator.onnx (default: next to this script)",
    )
    parser.add_argument("--batch-size", type=int, default=128, help="images per encoder call (default: 128)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the whole job; return the content of solution.json. Raises BadInput on bad input."""
    started = time.monotonic()
    if not args.output.is_dir():
        raise BadInput(f"output folder {args.output} does not exist: create it or pass --output")
    tracks = read_tracks(args.data)
    threads = cpu_threads()
    providers = choose_providers()
    encoder = load_model(
        args.models / ENCODER_FILE,
        [("images", "tensor(uint8)", 4)],
        [("descriptors", "tensor(float)", 2)],
        providers,
        threads,
    )
    aggregator = load_model(
        args.models / AGGREGATOR_FILE,
        [("frame_descriptors", "tensor(float)", 3)],
        [("track_descriptors", "tensor(float)", 2)],
        providers,
        threads,
    )
    provider = encoder.get_providers()[0]
    if provider != providers[0]:
        log(f"{providers[0]} is not usable here; running on {provider} (much slower; ORT_VERBOSE=1 shows why)")
    else:
        log(f"running on {provider}")
    paths = [p for frames in tracks.values() for p in frames]
    frame_counts = [len(frames) for frames in tracks.values()]
    log(f"{len(tracks)} tracks, {len(paths)} images in {args.data / 'tracks.csv'}")
    progress = Progress(args.output, len(tracks), len(paths), len(paths) / len(tracks), time_limit_s())
    timings: dict[str, float] = {"load_s": time.monotonic() - started}

    # Decoding threads share the CPU with the encoder on a CPU run; on a GPU they are the bottleneck.
    workers = max(1, threads if provider != "CPUExecutionProvider" else min(2, threads))
    phase = time.monotonic()
    frame_descriptors = encode_images(encoder, paths, args.batch_size, workers, progress, timings)
    timings["encode_s"] = time.monotonic() - phase
    phase = time.monotonic()
    track_descriptors = aggregate(aggregator, frame_descriptors, frame_counts)
    timings["aggregate_s"] = time.monotonic() - phase
    phase = time.monotonic()
    track_ids = track_id_array(list(tracks.keys()))
    write_descriptors(args.output / DESCRIPTORS_FILE, track_ids, track_descriptors)
    timings["write_s"] = time.monotonic() - phase
    timings["total_s"] = time.monotonic() - started
    progress.update(len(paths), final=True)
    return {
        "execution_provider": provider,
        "providers": encoder.get_providers(),
        "onnxruntime": ort.__version__,
        "tracks": len(tracks),
        "images": len(paths),
        "descriptor_dim": int(track_descriptors.shape[1]),
        "batch_size": args.batch_size,
        "intra_op_threads": threads,
        "decode_workers": workers,
        "images_per_s": round(len(paths) / timings["encode_s"], 2) if timings["encode_s"] > 0 else None,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the baseline; return the exit code (0 ok, 2 bad input)."""
    args = parse_args(argv)
    try:
        report = run(args)
    except BadInput as exc:
        log(f"error: {exc}")
        return 2
    write_json_atomically(args.output / SOLUTION_REPORT_FILE, report)
    log(
        "wrote {} descriptors of dimension {} (one per track) to {}".format(
            report["tracks"], report["descriptor_dim"], args.output / DESCRIPTORS_FILE
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
