"""YAML as archsim reads it (configs, `--set` values): plain data, every key once, no alias bombs.

    load_yaml(text, where) -> object        (ArchsimError naming `where` otherwise)
    read_yaml_file(path) -> object          (also: a file that is not UTF-8, or larger than MAX_FILE_BYTES)

`ConfigLoader` is PyYAML's safe loader (the libyaml one when PyYAML has it, which
parses a large config about ten times faster), so no tag ever runs code. On top of it:

- a key given twice in one mapping is an error naming both lines (plain PyYAML keeps
  the last one silently); a merge key (`<<: *base`) may still be overridden, as YAML
  intends;
- the document is measured before anything is built: once its aliases are expanded it
  may hold at most MAX_EXPANDED values more than it spells out, nest at most MAX_DEPTH
  levels deep, and no alias may sit inside its own anchor (a cycle), so a small file
  can neither become a value of 10^8 elements nor loop;
- only plain data is built: mappings, lists, strings, numbers, true/false and null.
  A date such as 2024-01-01 stays the string it reads as; !!set, !!binary, !!omap and
  !!pairs are refused by name.

Errors from the YAML parser say where: `WHERE is not valid YAML, line L, column C: ...`.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from archsim.errors import ArchsimError, short_repr
from archsim.files import read_utf8

MAX_EXPANDED = 1_000_000  # values aliases may add to a document
MAX_DEPTH = 64  # nesting levels
MAX_FILE_BYTES = 64 * 2 ** 20
_MERGE = "tag:yaml.org,2002:merge"
_REFUSED_TAGS = {f"tag:yaml.org,2002:{name}": f"!!{name}" for name in ("set", "binary", "omap", "pairs")}

_SafeBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigLoader(_SafeBase):
    """The safe loader, refusing repeated keys and building dates as the strings they are written as."""

    where = "the YAML"  # names the document in errors

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                    continue  # a merge may be overridden; a list or mapping key is refused by PyYAML itself
                key = self.construct_object(key_node)
                if key in first:
                    raise ArchsimError(f"{_at(self.where, key_node.start_mark)}: key {short_repr(key)} is given twice "
                                       f"in one mapping (first on line {first[key] + 1}); keep one (YAML would "
                                       "silently use the last)")
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_timestamp_as_text(self, node):
        return self.construct_scalar(node)

    def refuse_tag(self, node):
        raise ArchsimError(f"{_at(self.where, node.start_mark)}: {_REFUSED_TAGS[node.tag]} is not allowed (only "
                           "mappings, lists, strings, numbers, true/false and null)")


ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", ConfigLoader.construct_timestamp_as_text)
for _tag in _REFUSED_TAGS:
    ConfigLoader.add_constructor(_tag, ConfigLoader.refuse_tag)


def load_yaml(text: str, where: str):
    """The plain data of the YAML document `text` (see the module docstring); `where` names it in errors."""
    loader = ConfigLoader(text)
    loader.where = where
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        said = ", ".join(str(part) for part in (getattr(e, "context", None), getattr(e, "problem", None)) if part)
        raise ArchsimError(f"{where} is not valid YAML{_at('', getattr(e, 'problem_mark', None))}: "
                           f"{said or e}") from None
    except RecursionError:  # PyYAML without libyaml composes recursively; libyaml stops at 1000 levels itself
        raise ArchsimError(f"{where} is nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def read_yaml_file(path: Path):
    """`load_yaml` of the UTF-8 text in `path`."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ArchsimError(f"{path} is {size:,} bytes; a config holds at most {MAX_FILE_BYTES:,}")
    return load_yaml(read_utf8(path, "save the config as UTF-8"), str(path))


def _check_size(root, where: str) -> None:
    """Refuse a node graph that holds a cycle, nests too deeply or whose aliases expand it too far.

    One pass over the distinct nodes (an alias is the same node object again): the expanded size of a
    collection is 1 plus that of its children and its height 1 plus their largest (a scalar: 1 and 1),
    each found once per node and reused for every alias of it."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    written = 0  # the collections and scalars the text spells out
    stack: list = [root]
    while stack:
        node = stack.pop()
        if type(node) is tuple:  # (node,): its children are done
            node = node[0]
            total, tallest = 1, 0
            for child in _children(node):
                if type(child) is ScalarNode:
                    total, tallest = total + 1, max(tallest, 1)
                else:
                    total, tallest = total + size[id(child)], max(tallest, height[id(child)])
            size[id(node)], height[id(node)] = total, tallest + 1
            written += 1 + sum(type(child) is ScalarNode for child in _children(node))
            on_path.discard(id(node))
        elif type(node) is not ScalarNode and id(node) not in size:
            if id(node) in on_path:
                raise ArchsimError(f"{_at(where, node.start_mark)}: an alias refers to a node that holds it "
                                   "(a cycle); a config cannot be infinite")
            on_path.add(id(node))
            stack.append((node,))
            stack += _children(node)
    if type(root) is ScalarNode:
        return
    if height[id(root)] > MAX_DEPTH:
        raise ArchsimError(f"{where} is nested {height[id(root)]:,} levels deep; at most {MAX_DEPTH}")
    if size[id(root)] - written > MAX_EXPANDED:
        raise ArchsimError(f"{where}: its aliases expand it to {size[id(root)]:,} values, more than "
                           f"{MAX_EXPANDED:,} beyond the {written:,} it spells out; write it with fewer aliases")


def _at(where: str, mark) -> str:
    """'WHERE, line L, column C' (1-based), or WHERE alone without a mark."""
    return where if mark is None else f"{where}, line {mark.line + 1}, column {mark.column + 1}"


def _children(node) -> list:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []
