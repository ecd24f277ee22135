"""The bad rows planted in the sample files, one defect per row, and where they go.

Each plan entry names the contract column, the kind of defect (the vocabulary of
ground_truth/injected_errors.csv) and how to turn a good value into a bad one. A defect
that needs a non-empty value (e.g. shortening a SIRET) skips rows where it is empty.

Each plan is planted once per file family, except for the late-and-sloppy distributor
(generator.LATE_AND_SLOPPY), whose single-row defects recur on ~2% of its lines.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestration.sample.csvout import Injection, format_fields

KINDS = (
    "not_a_number",
    "not_a_date",
    "missing_required",
    "pattern_mismatch",
    "invalid_value",
    "out_of_range",
    "duplicate_key",
    "malformed_row",
)


def _const(value: str) -> Callable[[str], str | None]:
    return lambda old: value if old != value else None


def _nonempty(fn: Callable[[str], str]) -> Callable[[str], str | None]:
    return lambda old: fn(old) if old else None


def _drop_leading_digit(old: str) -> str | None:
    if not old or len(old) != 5:
        return None
    return old[1:] if old.startswith("0") else old[:2] + " " + old[2:]


def _invalid_day(fmt: str) -> Callable[[str], str | None]:
    """A date in the file's own format that does not exist (31 February, month 13)."""

    def bad(old: str) -> str | None:
        if not old:
            return None
        if fmt == "%Y%m%d":
            return old[:4] + "13" + old[6:]
        if fmt == "%d.%m.%Y":
            return "31.02." + old[-4:]
        if fmt == "%Y-%m-%d":
            return old[:4] + "-02-30"
        if fmt == "%d/%m/%Y":
            return "00/00/0000"
        if fmt == "%d/%m/%y":
            return "20" + old[-2:] + "-" + old[3:5] + "-" + old[:2]
        return "??/??/????"

    return bad


def _other_date_format(fmt: str) -> Callable[[str], str | None]:
    """The same day written in another convention (an export done by hand)."""

    def bad(old: str) -> str | None:
        if not old:
            return None
        if fmt == "%Y-%m-%d":
            return f"{old[8:10]}/{old[5:7]}/{old[:4]}"
        if fmt == "%d/%m/%Y":
            return f"{old[6:10]}-{old[3:5]}-{old[:2]}"
        return _invalid_day(fmt)(old)

    return bad


def column_injection(
    header: list[str], file_column: str, column: str, kind: str, fn: Callable[[str], str | None]
) -> Injection | None:
    if file_column not in header:
        return None
    i = header.index(file_column)

    def mutate(fields: list[str]) -> list[str] | None:
        new = fn(fields[i])
        if new is None or new == fields[i]:
            return None
        fields[i] = new
        return fields

    return Injection(kind=kind, column=column, file_column=file_column, mutate=mutate)


def duplicate_injection(
    header: list[str], key_column: str, change_column: str, fn: Callable[[str], str | None]
) -> Injection | None:
    """Insert a copy of an existing row further down, with the same key and one other value
    changed (a record entered or exported twice)."""
    if key_column not in header or change_column not in header:
        return None
    i = header.index(change_column)

    def mutate(fields: list[str]) -> list[str] | None:
        new = fn(fields[i])
        if new is None:
            return None
        fields[i] = new
        return fields

    return Injection(
        kind="duplicate_key", column=key_column, file_column=key_column, mutate=mutate, insert=True
    )


def malformed_injection(header: list[str], delimiter: str, extra: bool) -> Injection:
    """A row with one field too many (an unquoted delimiter in a name) or one too few
    (a truncated line)."""

    def mutate(fields: list[str]) -> str | None:
        if extra:
            return format_fields(fields[:1] + ["SARL"] + fields[1:], delimiter)
        return format_fields(fields[:-1], delimiter)

    return Injection(kind="malformed_row", column="", file_column="", mutate=mutate, raw=True)


def distributor_plan(
    dist_id: str, header_of: dict[str, str], header: list[str], fmt: dict, value_maps: dict
) -> list[Injection]:
    """Bad rows for one distributor's feed. header_of maps contract column -> file column."""
    date_fmt = fmt.get("date_format", "%Y-%m-%d")
    decimal = fmt.get("decimal", ".")
    delim = fmt.get("delimiter", ",")
    unknown_unit = {"D01": "PCE", "D04": "UN", "D05": "btl"}.get(dist_id, "XX")
    plans = {
        "D01": [
            ("not_a_number", "quantity", _const("#VALEUR!")),
            ("not_a_date", "sale_date", _invalid_day(date_fmt)),
            ("invalid_value", "unit", _const(unknown_unit)),
            ("pattern_mismatch", "postcode", _drop_leading_digit),
            ("malformed_row", "", None),
        ],
        "D02": [
            ("missing_required", "distributor_account_code", _const("")),
            ("pattern_mismatch", "siret", _nonempty(lambda s: s[:-1])),
            ("out_of_range", "quantity", _const("15000")),
            ("not_a_number", "amount", _const("12,50" if decimal == "." else "12.345,50")),
        ],
        "D03": [
            ("not_a_date", "sale_date", _invalid_day(date_fmt)),
            ("not_a_number", "quantity", _const("2 colis")),
            ("malformed_row", "+", None),
            ("missing_required", "product_code", _const("")),
        ],
        "D04": [
            ("not_a_date", "sale_date", _invalid_day(date_fmt)),
            ("invalid_value", "unit", _const(unknown_unit)),
            ("not_a_number", "quantity", _const("1O")),
            ("pattern_mismatch", "postcode", _drop_leading_digit),
        ],
        "D05": [
            ("invalid_value", "unit", _const(unknown_unit)),
            ("missing_required", "product_code", _const("")),
            ("out_of_range", "quantity", _const("12000")),
            ("not_a_date", "sale_date", _invalid_day(date_fmt)),
        ],
    }
    default = [
        ("not_a_number", "quantity", _const("N/A")),
        ("missing_required", "product_code", _const("")),
        ("malformed_row", "", None),
    ]
    out = []
    for kind, column, fn in plans.get(dist_id, default):
        if kind == "malformed_row":
            out.append(malformed_injection(header, delim, extra=column == "+"))
            continue
        if column == "unit" and column not in value_maps:
            continue
        inj = column_injection(header, header_of.get(column, ""), column, kind, fn)
        if inj:
            out.append(inj)
    return out


def internal_plan(source: str, header: list[str], fmt: dict) -> list[Injection]:
    date_fmt = fmt.get("date_format", "%Y-%m-%d")
    decimal = fmt.get("decimal", ".")

    def later_ts(old: str) -> str | None:
        return None if not old else old[:11] + "23:59:59"

    def other_quantity(old: str) -> str | None:
        try:
            value = float(old.replace(decimal, "."))
        except ValueError:
            return None
        return str(int(value) + (1 if value >= 0 else -1)) if value == int(value) else None

    def other_duration(old: str) -> str | None:
        return None if not old else str(min(600, int(float(old)) + 5))

    plans: dict[str, list] = {
        "crm_accounts": [
            ("duplicate_key", "account_id", "updated_at", later_ts),
            ("duplicate_key", "account_id", "updated_at", later_ts),
            ("pattern_mismatch", "postcode", _drop_leading_digit),
            ("invalid_value", "channel", _const("bar")),
            ("missing_required", "address", _const("")),
            ("out_of_range", "latitude", _nonempty(lambda s: s.replace(".", "").lstrip("0"))),
            ("not_a_date", "created_date", _other_date_format(date_fmt)),
        ],
        "erp_sell_in": [
            ("duplicate_key", "invoice_id", "quantity", other_quantity),
            ("invalid_value", "unit", _const("carton")),
            ("pattern_mismatch", "sku", _nonempty(lambda s: s[:5])),
            ("not_a_number", "net_amount", _const("1 234" + decimal + "50")),
        ],
        "call_log": [
            ("duplicate_key", "call_id", "duration_minutes", other_duration),
            ("invalid_value", "contact_mode", _const("visite")),
            ("out_of_range", "duration_minutes", _const("900")),
            ("not_a_date", "call_date", _invalid_day(date_fmt)),
        ],
        "ap_spend": [
            ("not_a_number", "amount", _const("1 200" + decimal + "00")),
            ("not_a_date", "spend_date", _other_date_format(date_fmt)),
            ("invalid_value", "spend_type", _const("PLV")),
        ],
        "field_surveys": [
            ("out_of_range", "quality_score", _const("7")),
            ("not_a_number", "staff_count", _const("douze")),
        ],
        "external_firmographics": [
            ("pattern_mismatch", "naf_code", _nonempty(lambda s: s.replace(".", ""))),
            ("invalid_value", "revenue_band", _const("2-10M EUR")),
        ],
    }
    out = []
    for entry in plans.get(source, []):
        if entry[0] == "duplicate_key":
            inj = duplicate_injection(header, entry[1], entry[2], entry[3])
        else:
            kind, column, fn = entry
            inj = column_injection(header, column, column, kind, fn)
        if inj:
            out.append(inj)
    return out
