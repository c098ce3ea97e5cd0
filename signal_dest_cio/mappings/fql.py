"""The FQL subset Segment users write for a rule's `when` (SPEC 12), to the condition tree
and back.

    type = "track" and event = "Order Completed"
    properties.total >= 100 or (context.app.version != null and !(userId = null))
    contains(properties.email, "@example.com") and match(event, "debug.*")

Grammar (`or` binds loosest, then `and`, then `!`; parentheses nest to any depth):

    expr    := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := ("!" | "not") unary | "(" expr ")" | call | compare
    call    := ("contains" | "match" | "starts_with" | "ends_with") "(" path "," literal ")"
             | "exists" "(" path ")"
    compare := path ("=" | "!=" | "<" | "<=" | ">" | ">=") literal
             | path "in" "[" literal ("," literal)* "]"
    literal := "string" | number | true | false | null

Strings are double-quoted; inside them `\\"` is a quote, `\\\\` a backslash, `\\n` and
`\\t` a newline and a tab. In a path, `\\` makes the next character part of the name
(`properties.first\\ name`, `properties.a\\.b`). These are the three places Segment's
own parser goes wrong (`and` over `or`, nested parentheses, escapes); tests pin each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .conditions import ConditionError, Group, Leaf, Node, Not, parse_tree
from .paths import PathError, parse_path, print_path

_COMPARE = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_SYMBOL = {op: text for text, op in _COMPARE.items()}
_CALLS = ("contains", "match", "starts_with", "ends_with")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null", "exists", *_CALLS})
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PUNCTUATION = ("!=", "<=", ">=", "(", ")", "[", "]", ",", "=", "<", ">", "!")
_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
MAX_LENGTH = 20_000


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "punct", "string", "number", "word" (a path or keyword)
    text: str
    value: Any
    at: int


class FqlError(ConditionError):
    pass


def _error(message: str, at: int) -> FqlError:
    return FqlError(f"at character {at + 1}: {message}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            i = _string(text, i, tokens)
        elif (char == "-" or char.isdigit()) and (match := _NUMBER.match(text, i)):
            raw = match.group()
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("number", raw, value, i))
            i = match.end()
        elif (punct := next((p for p in _PUNCTUATION if text.startswith(p, i)), None)) is not None:
            tokens.append(Token("punct", punct, punct, i))
            i += len(punct)
        else:
            i = _word(text, i, tokens)
    return tokens


def _string(text: str, start: int, tokens: list[Token]) -> int:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            tokens.append(Token("string", text[start : i + 1], "".join(out), start))
            return i + 1
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _STRING_ESCAPES:
                raise _error('unknown escape in a string (use \\" \\\\ \\n \\t)', i)
            out.append(_STRING_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(char)
            i += 1
    raise _error("a string is not closed", start)


def _word(text: str, start: int, tokens: list[Token]) -> int:
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise _error("a path ends in a lone backslash", i)
            i += 2
        elif char.isspace() or char in '()[],=!<>"':
            break
        else:
            i += 1
    if i == start:
        raise _error(f"unexpected {text[start]!r}", start)
    raw = text[start:i]
    tokens.append(Token("word", raw, raw, start))
    return i


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _error("the condition ends too early", len(self.text))
        self.position += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind and token.text == text:
            self.position += 1
            return True
        return False

    def expect(self, kind: str, text: str) -> None:
        token = self.take()
        if token.kind != kind or token.text != text:
            raise _error(f"expected {text!r}, found {token.text!r}", token.at)

    def parse(self, depth: int = 0) -> Node:
        if depth > 64:
            token = self.peek()
            raise _error("parentheses are nested too deeply", token.at if token else 0)
        items = [self.conjunction(depth)]
        while self.accept("word", "or"):
            items.append(self.conjunction(depth))
        return items[0] if len(items) == 1 else Group("any", tuple(items))

    def conjunction(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while self.accept("word", "and"):
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else Group("all", tuple(items))

    def unary(self, depth: int) -> Node:
        if self.accept("punct", "!") or self.accept("word", "not"):
            return Not(self.unary(depth + 1))
        if self.accept("punct", "("):
            inner = self.parse(depth + 1)
            self.expect("punct", ")")
            return inner
        token = self.take()
        if token.kind != "word":
            raise _error(f"expected a condition, found {token.text!r}", token.at)
        following = self.peek()
        if token.text in (*_CALLS, "exists") and following is not None and following.text == "(":
            return self.call(token.text)
        return self.compare(token)

    def path(self, token: Token) -> tuple[str, ...]:
        if token.kind != "word" or token.text in _KEYWORDS:
            raise _error(f"expected a path, found {token.text!r}", token.at)
        try:
            return parse_path(token.text)
        except PathError as error:
            raise _error(str(error), token.at) from None

    def call(self, name: str) -> Node:
        self.expect("punct", "(")
        path = self.path(self.take())
        if name == "exists":
            self.expect("punct", ")")
            return Leaf(path, "exists", True)
        self.expect("punct", ",")
        value = self.literal()
        self.expect("punct", ")")
        return Leaf(path, name, value)

    def compare(self, token: Token) -> Node:
        path = self.path(token)
        op_token = self.take()
        if op_token.kind == "word" and op_token.text == "in":
            self.expect("punct", "[")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.expect("punct", "]")
            return Leaf(path, "in", tuple(values))
        if op_token.kind != "punct" or op_token.text not in _COMPARE:
            raise _error(f"expected = != < <= > >= or in, found {op_token.text!r}", op_token.at)
        return Leaf(path, _COMPARE[op_token.text], self.literal())

    def literal(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "word" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise _error(f"expected a value (a string, number, true, false, null), found "
                     f"{token.text!r}", token.at)  # fmt: skip


def parse_fql(text: str) -> Node:
    """The tree a condition string means, checked as `parse_tree` checks a JSON tree."""
    if len(text) > MAX_LENGTH:
        raise FqlError(f"a condition string is at most {MAX_LENGTH} characters")
    parser = _Parser(text)
    if not parser.tokens:
        raise FqlError("the condition is empty")
    node = parser.parse()
    extra = parser.peek()
    if extra is not None:
        raise _error(f"unexpected {extra.text!r} (missing and/or?)", extra.at)
    from .conditions import tree_json

    return parse_tree(tree_json(node))  # the JSON tree's checks: values, ops, limits


# -- the tree as a string -------------------------------------------------------------


def print_fql(node: Node) -> str:
    """A string `parse_fql` reads back to a tree that matches exactly the same events."""
    if isinstance(node, Group):
        joiner = " and " if node.kind == "all" else " or "
        return joiner.join(_wrapped(item) for item in node.items)
    if isinstance(node, Not):
        return "!" + _wrapped(node.item, always=True)
    path = _path_text(node.path)
    if node.op in _SYMBOL:
        return f"{path} {_SYMBOL[node.op]} {print_literal(node.value)}"
    if node.op == "in":
        return f"{path} in [{', '.join(print_literal(v) for v in node.value)}]"
    if node.op == "exists":
        return f"exists({path})" if node.value else f"!exists({path})"
    return f"{node.op}({path}, {print_literal(node.value)})"


def _wrapped(node: Node, always: bool = False) -> str:
    text = print_fql(node)
    return f"({text})" if always or isinstance(node, Group) else text


def _path_text(segments: tuple[str, ...]) -> str:
    text = print_path(segments)
    first = text.split(".", 1)[0]
    if first in _KEYWORDS or first[:1].isdigit() or first[:1] == "-":
        text = "\\" + text  # a name that would read as a keyword or a number
    return text


def print_literal(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'
    return repr(value)
