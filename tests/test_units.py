"""Sizes as docker writes them: the runner's --memory and --log-limit depend on this."""

import pytest

from contracts.units import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("512m", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("16g", 16 * 1024**3),
        ("1.5g", int(1.5 * 1024**3)),
        ("10MiB", 10 * 1024**2),
        ("2kb", 2048),
        (1234, 1234),
    ],
)
def test_parse_size_reads_docker_sizes(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "16 gigs", "-1m", "1.2.3g"])
def test_parse_size_rejects_non_sizes_with_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match="size must look like 512m, 16g or 4096"):
        parse_size(text)


def test_parse_size_rejects_negative_integers() -> None:
    with pytest.raises(ValueError, match="size must be a non-negative number of bytes, got -5"):
        parse_size(-5)


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (10 * 1024**2, "10.0 MiB"), (3 * 1024**4, "3072.0 GiB")],
)
def test_format_size_is_short_and_binary(n_bytes: int, text: str) -> None:
    assert format_size(n_bytes) == text
