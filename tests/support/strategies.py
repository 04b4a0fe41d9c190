"""Hypothesis strategies shared by the property tests: JSON of any shape, as clients send it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Scalars a JSON parser can hand us, big integers included (orjson turns them into floats).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``leaf`` wrapped in ``depth`` lists and objects, alternately."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# Deep nesting that random recursion almost never reaches: JSON parsers and encoders have limits
# (orjson reads 1024 levels but writes only 254), and a value that parses must not break a reply.
depths = st.sampled_from([251, 252, 253, 254, 255, 600, 1023, 1024]) | st.integers(200, 1100)
deep_values = depths.map(nested)
any_json_value = json_values | deep_values


def dumps(value: Any) -> str:
    """Serialised by the standard library, which writes what orjson refuses (NaN, huge ints)."""
    return json.dumps(value)


json_text = any_json_value.map(dumps)
