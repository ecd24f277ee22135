"""Small helpers shared by the generator modules: seeded streams, calendar, string arrays."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """An independent, reproducible random stream for one named part of the generation.

    Streams are keyed by name (and chunk number), so adding a new stream or changing how
    many numbers one part draws never shifts what the other parts generate."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), *keys]))


@dataclass(frozen=True)
class Window:
    """The months covered by the sample: `months` months ending with `end_month`."""

    end_month: str
    months: int

    @property
    def labels(self) -> list[str]:
        year, month = (int(x) for x in self.end_month.split("-"))
        total = year * 12 + month - 1
        out = []
        for k in range(total - self.months + 1, total + 1):
            out.append(f"{k // 12:04d}-{k % 12 + 1:02d}")
        return out

    @property
    def starts(self) -> np.ndarray:
        return np.array([f"{label}-01" for label in self.labels], dtype="datetime64[D]")

    @property
    def ends(self) -> np.ndarray:
        """Last day of each month."""
        nxt = (self.starts.astype("datetime64[M]") + 1).astype("datetime64[D]")
        return nxt - 1

    @property
    def days(self) -> np.ndarray:
        return (self.ends - self.starts + 1).astype(np.int64)

    @property
    def calendar_month(self) -> np.ndarray:
        return np.array([int(label[5:]) for label in self.labels])

    @property
    def first_day(self) -> np.datetime64:
        return self.starts[0]

    @property
    def last_day(self) -> np.datetime64:
        return self.ends[-1]


def random_days(
    rng: np.random.Generator, starts: np.ndarray, days: np.ndarray, weekdays_only: bool = True
) -> np.ndarray:
    """A random day in each given month (datetime64[D]); Sundays (and Saturdays when
    weekdays_only) are moved to the nearest working day inside the month."""
    offset = np.floor(rng.random(len(starts)) * days).astype(np.int64)
    day = starts + offset
    # 1970-01-01 was a Thursday: weekday 0 = Monday.
    weekday = (day.astype(np.int64) + 3) % 7
    if weekdays_only:
        shift = np.where(weekday == 5, -1, np.where(weekday == 6, 1, 0))
    else:
        shift = np.where(weekday == 6, 1, 0)
    moved = offset + shift
    moved = np.where(moved >= days, offset - np.where(weekday == 6, 2, 1), moved)
    moved = np.where(moved < 0, offset + np.where(weekday == 5, 2, 1), moved)
    return starts + np.clip(moved, 0, days - 1)


def pick(values, index: np.ndarray) -> np.ndarray:
    """values[index] as an object array of Python strings."""
    return np.asarray(values, dtype=object)[index]


def choice_weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(np.asarray(weights, dtype=float))
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(cum) - 1)


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from a (n, k) matrix of row probabilities."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(probs))[:, None]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def to_arrow(values: np.ndarray) -> pa.Array:
    """Object array (str or None) -> arrow string array."""
    return pa.array(values, type=pa.string(), from_pandas=True)


def to_object(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)


def strip_accents(array: pa.Array) -> pa.Array:
    """Drop diacritics (é -> e) and spell ligatures out (oe, ae)."""
    array = pc.replace_substring(array, "œ", "oe")
    array = pc.replace_substring(array, "Œ", "OE")
    array = pc.replace_substring(array, "æ", "ae")
    array = pc.replace_substring(array, "Æ", "AE")
    decomposed = pc.utf8_normalize(array, "NFD")
    return pc.utf8_normalize(pc.replace_substring_regex(decomposed, r"\p{Mn}", ""), "NFC")


def latin1_safe(array: pa.Array) -> pa.Array:
    """Replace the few characters latin-1 cannot encode (ligatures, curly quotes)."""
    array = pc.replace_substring(array, "œ", "oe")
    array = pc.replace_substring(array, "Œ", "OE")
    array = pc.replace_substring(array, "\u2019", "'")
    return pc.replace_substring(array, "\u20ac", "EUR")


def slug(array: pa.Array) -> pa.Array:
    """'Le Petit Zinc' -> 'lepetitzinc' (for web sites and e-mails)."""
    low = pc.utf8_lower(strip_accents(array))
    return pc.replace_substring_regex(low, r"[^a-z0-9]+", "")


def where(mask: np.ndarray, a, b) -> np.ndarray:
    """np.where for object arrays (keeps Python strings)."""
    out = (
        np.array(b, dtype=object, copy=True)
        if isinstance(b, np.ndarray)
        else np.full(len(mask), b, dtype=object)
    )
    if isinstance(a, np.ndarray):
        out[mask] = a[mask]
    else:
        out[mask] = a
    return out


def luhn_complete(digits: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to each row of a (n, k) digit matrix."""
    n, k = digits.shape
    total = np.zeros(n, dtype=np.int64)
    # Positions counted from the right once the check digit is appended: the last given
    # digit sits at position 2 (doubled).
    for i in range(k):
        d = digits[:, k - 1 - i].astype(np.int64)
        if i % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    check = (10 - total % 10) % 10
    return np.concatenate([digits, check[:, None]], axis=1)


def digits_to_str(digits: np.ndarray) -> np.ndarray:
    """(n, k) digit matrix -> object array of k-character strings."""
    if len(digits) == 0:
        return np.array([], dtype=object)
    k = digits.shape[1]
    raw = np.ascontiguousarray(digits.astype(np.uint8) + ord("0")).tobytes()
    return np.frombuffer(raw, dtype=f"S{k}").astype(f"U{k}").astype(object)


def fmt_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """'ACC' + zero-padded numbers, vectorised through arrow."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    text = pc.utf8_lpad(text, width=width, padding="0")
    return to_object(pc.binary_join_element_wise(prefix, text, ""))


def grouped_pick(
    groups: list[np.ndarray], group_idx: np.ndarray, u: np.ndarray, fallback: int = 0
) -> np.ndarray:
    """For each row, a uniform member of groups[group_idx[row]] (fallback if empty)."""
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.concatenate(
        [np.asarray(g, dtype=np.int64) for g in groups] + [np.array([fallback], dtype=np.int64)]
    )
    size = sizes[group_idx]
    pos = offsets[group_idx] + np.minimum((u * size).astype(np.int64), np.maximum(size - 1, 0))
    return flat[np.where(size > 0, pos, len(flat) - 1)]
