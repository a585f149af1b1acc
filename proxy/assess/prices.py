"""The DynamoDB price table the cost projection uses: the shipped one (us-east-1, dated in the
file) or the user's own, JSON or YAML with the same fields."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from translators.assess.report import Prices

DEFAULT = Path(__file__).with_name("prices-us-east-1.json")


class PriceFileError(ValueError):
    pass


def load_prices(path: str | None = None) -> Prices:
    p = Path(path) if path else DEFAULT
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PriceFileError(f"--prices {p}: {e.strerror or e}") from None
    try:
        doc = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise PriceFileError(f"--prices {p}: not JSON or YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise PriceFileError(f"--prices {p}: not a table of prices")
    try:
        return Prices.from_json(doc)
    except ValueError as e:
        raise PriceFileError(f"--prices {p}: {e}") from None
