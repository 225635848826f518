"""YAML in and out, through libyaml's C loader/dumper when it is available."""

from __future__ import annotations

from typing import Any

import yaml

try:
    _Loader: type = yaml.CSafeLoader
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader
    _Dumper = yaml.SafeDumper


def loads(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_Loader)


def dumps(data: Any) -> str:
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


YAMLError = yaml.YAMLError
ReaderError = yaml.reader.ReaderError
