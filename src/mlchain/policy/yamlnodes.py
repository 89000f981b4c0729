"""Safe YAML loading that remembers the line of every key and value.

PyYAML's ``SafeLoader`` builds the node graph (no tags beyond plain data are accepted), and this
module turns the nodes into plain ``dict``/``list``/scalar values itself, so it can record where
each value came from, refuse duplicate keys, merge keys and exotic tags, and bound the work an
alias bomb ("billion laughs") could cause. Every problem becomes a :class:`PolicyError` that
names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlchain.errors import PolicyError

if TYPE_CHECKING:
    import yaml

Path_ = tuple[str | int, ...]
"""A location inside the document: keys and list indexes from the root."""

MAX_NODES = 20_000
"""Upper bound on values built from one document (aliases count every time they are used)."""
MAX_DEPTH = 64

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass(slots=True)
class Document:
    """A loaded document: its plain value and the 1-based line of each key and value."""

    source: str
    value: Any = None
    value_lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of the deepest known location at or above ``path`` (1 when unknown).

        A key's line is preferred to its value's, so errors point at ``field:`` lines.
        """
        probe = tuple(path)
        while True:
            if probe in self.key_lines:
                return self.key_lines[probe]
            if probe in self.value_lines:
                return self.value_lines[probe]
            if not probe:
                return 1
            probe = probe[:-1]

    def error(self, path: Path_, message: str) -> str:
        """Format ``file:line: message`` for ``path``."""
        return f"{self.source}:{self.line(path)}: {message}"


def load_document(text: str, source: str) -> Document:
    """Parse ``text`` as exactly one YAML document of plain data.

    Raises:
        PolicyError: on a syntax error, several documents, an empty document, a tag other than
            str/int/float/bool/null/map/seq, a merge key, a duplicate or non-string key, or a
            document too deep or too large.
    """
    import yaml

    loader: yaml.SafeLoader | None = None
    try:
        _check_depth(text, source)
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc.context or ""):
            problem = "the file holds more than one YAML document ('---'); put one policy per file"
        raise PolicyError(f"{source}:{line}: YAML syntax error: {problem}.") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}:1: not readable as YAML: {exc}.") from None
    except RecursionError:
        raise PolicyError(f"{source}:1: the YAML is nested too deeply.") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise PolicyError(f"{source}:1: the policy file is empty.")
    doc = Document(source)
    budget = [MAX_NODES]
    doc.value = _build(loader, node, (), doc, budget)
    return doc


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting before PyYAML's recursive composer sees it (cheap event pass)."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise PolicyError(
                    f"{source}:{line}: the YAML is nested too deeply (more than {MAX_DEPTH} "
                    "levels)."
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path_, doc: Document, budget: list[int]
) -> Any:
    import yaml

    line = node.start_mark.line + 1
    budget[0] -= 1
    if budget[0] < 0:
        raise PolicyError(
            f"{doc.source}:{line}: the document expands to more than {MAX_NODES} values "
            "(aliases?); a policy is small, write it out plainly."
        )
    if len(path) > MAX_DEPTH:
        raise PolicyError(f"{doc.source}:{line}: the YAML is nested too deeply.")
    doc.value_lines.setdefault(path, line)
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise PolicyError(
                f"{doc.source}:{line}: unsupported YAML value of type {_tag_name(node.tag)}; "
                "quote it to make it a string."
            )
        return loader.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise PolicyError(
                f"{doc.source}:{line}: unsupported YAML tag {_tag_name(node.tag)} on a list."
            )
        return [_build(loader, item, (*path, i), doc, budget) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            raise PolicyError(
                f"{doc.source}:{line}: unsupported YAML tag {_tag_name(node.tag)} on a mapping."
            )
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                what = "a merge key ('<<')" if key_node.tag.endswith(":merge") else "not a string"
                raise PolicyError(
                    f"{doc.source}:{key_line}: mapping key is {what}; policy keys are plain "
                    "field names."
                )
            key = str(key_node.value)
            key_path: Path_ = (*path, key)
            if key in result:
                raise PolicyError(
                    f"{doc.source}:{key_line}: duplicate key '{key}' (first at line "
                    f"{doc.key_lines[key_path]}); remove one of them."
                )
            doc.key_lines[key_path] = key_line
            result[key] = _build(loader, value_node, (*path, key), doc, budget)
        return result
    raise PolicyError(f"{doc.source}:{line}: unsupported YAML node.")  # pragma: no cover


def _tag_name(tag: str) -> str:
    return tag.removeprefix("tag:yaml.org,2002:")
