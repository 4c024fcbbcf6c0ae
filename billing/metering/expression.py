"""Safe arithmetic expressions for billable metrics (docs/billing.md, Metering: `custom_agg` / `expression`).

Lago lets a billable metric compute a per-event value with a SQL custom expression, e.g.
`round((event.properties.ended_at - event.properties.started_at) * event.properties.units)`.
Tally gives metric authors the same power with a small language of its own: the text is split by a
hand-written tokenizer, parsed by a Pratt (precedence-climbing) parser into an immutable AST, and the
AST is turned into a tree of closures once. Nothing here ever calls `eval`, `exec`, `compile` or the
`ast` module, and no Python object other than the event's values is reachable from an expression.
`try_expression` runs one on a sample event typed in the metric form, and says why it cannot.

The language
    literals     12   0.5   1e3   'text' (a quote inside is written '')   true   false
    event        event.properties.<name>  (letters, digits, _)   event.properties['any key']
                 event.timestamp (Unix seconds, a Decimal)   event.code
    operators    unary - and +, then * and /, then binary + and - (left-associative); parentheses
    functions    ROUND(x) ROUND(x, digits) CEIL(x) FLOOR(x) ABS(x) MIN(a, ...) MAX(a, ...)
                 CONCAT(a, ...) COALESCE(a, ...)   (names are case-insensitive)

Semantics
    * Arithmetic is Decimal with 40 significant digits (ROUND_HALF_EVEN for the 41st digit); ROUND
      rounds half up (away from zero) at 0 to 15 decimals, like PostgreSQL's round(numeric).
    * A property's value may be an int, a float (by repr), a Decimal, a string or a boolean; a
      numeric string ("12.5") counts as a number in arithmetic. A missing property, or one whose
      value is null, is an error (`missing_property:<name>`) unless an argument of COALESCE, which
      skips an argument that refers to a missing value (as SQL's NULL propagates) and returns the
      first that has one.
    * CONCAT writes numbers without exponent or trailing zeros (1.50 -> "1.5") and booleans as
      true / false.

Errors are `ExpressionError`s with a `code`: invalid_expression (parse errors, with a position:
the 0-based offset in the text), missing_property, not_a_number, division_by_zero,
invalid_argument (ROUND's digits), unsupported_value (a list or object where a value is needed) and
overflow (a result beyond 1E+999999). Limits against abuse: at most 1000 characters, an AST at most
50 deep and at most 200 nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from functools import lru_cache
from typing import NamedTuple

from billing.money import decimal_str, parse_decimal

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_NODES = 200
PRECISION = 40
MAX_ROUND_DIGITS = 15

# NOTE: one shared context, used only through its methods (never installed as the thread's context).
# Its sticky flags are written concurrently but never read; traps fire on each operation's own status.
_CTX = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
               traps=[InvalidOperation, DivisionByZero, Overflow])
# Exact scaling for ROUND (scaleb would otherwise round a long coefficient to 40 digits).
_EXACT = Context(prec=MAX_PREC, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN,
                 traps=[InvalidOperation, DivisionByZero, Overflow])
_ZERO = Decimal(0)
_PLAIN_LIMIT = 100  # CONCAT writes numbers beyond 1E+100 / 1E-100 in scientific notation
_LABEL_LIMIT = 40

Value = Decimal | str | bool


class ExpressionError(ValueError):
    """An expression that does not parse, or an event it cannot be evaluated on."""

    def __init__(self, code: str, message: str, *, position: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position
        self.detail = detail

    def __reduce__(self):
        return (self.__class__, (self.code, self.message), {"position": self.position, "detail": self.detail})

    def __str__(self) -> str:
        return self.message


def _invalid(reason: str, position: int) -> ExpressionError:
    return ExpressionError("invalid_expression", f"invalid_expression: {reason} at position {position}",
                           position=position)


def _missing(name: str) -> ExpressionError:
    return ExpressionError("missing_property", f"missing_property:{name}", detail=name)


def _not_a_number(label: str) -> ExpressionError:
    return ExpressionError("not_a_number", f"not_a_number:{label}", detail=label)


# --- AST -------------------------------------------------------------------------------------------------------------
# Every node carries its span in the source: `start` and `end` offsets (the operand named in an error).


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PropertyRef:
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class EventField:
    name: str  # "timestamp" or "code"
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # upper case
    args: tuple[Node, ...]
    start: int
    end: int


Node = Literal | PropertyRef | EventField | Unary | Binary | Call


# --- Tokenizer -------------------------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # number, string, ident, name (a member after '.'), op, end
    value: object
    start: int
    end: int


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MEMBER = re.compile(r"[A-Za-z0-9_]+")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_OPERATORS = frozenset("+-*/(),.[]")
_SPACE = frozenset(" \t\r\n")


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    length = len(source)
    pos = 0
    after_dot = False
    while pos < length:
        char = source[pos]
        if char in _SPACE:
            pos += 1
            continue
        if after_dot:
            after_dot = False
            member = _MEMBER.match(source, pos)
            if member:
                tokens.append(_Token("name", member.group(), pos, member.end()))
                pos = member.end()
                continue
        if char in _OPERATORS:
            tokens.append(_Token("op", char, pos, pos + 1))
            after_dot = char == "."
            pos += 1
        elif "0" <= char <= "9":
            match = _NUMBER.match(source, pos)
            assert match is not None
            end = match.end()
            if end < length and source[end] in _WORD_CHARS:
                raise _invalid(f"malformed number {source[pos:end + 1]!r}", pos)
            tokens.append(_Token("number", _number_literal(match.group(), pos), pos, end))
            pos = end
        elif char == "'":
            text, end = _string_literal(source, pos)
            tokens.append(_Token("string", text, pos, end))
            pos = end
        elif char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z"):
            match = _IDENT.match(source, pos)
            assert match is not None
            tokens.append(_Token("ident", match.group(), pos, match.end()))
            pos = match.end()
        else:
            raise _invalid(f"unexpected character {char!r}", pos)
    tokens.append(_Token("end", None, length, length))
    return tokens


def _number_literal(text: str, position: int) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _invalid(f"number {text!r} out of range", position) from None
    if value and not _CTX.Emin <= value.adjusted() <= _CTX.Emax:
        raise _invalid(f"number {text!r} out of range", position)
    return value


def _string_literal(source: str, start: int) -> tuple[str, int]:
    parts: list[str] = []
    pos = start + 1
    while True:
        quote = source.find("'", pos)
        if quote < 0:
            raise _invalid("unterminated string", start)
        parts.append(source[pos:quote])
        if source.startswith("'", quote + 1):  # '' is a quote inside the string
            parts.append("'")
            pos = quote + 2
            continue
        return "".join(parts), quote + 1


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of expression"
    if token.kind == "string":
        return "string"
    return repr(token.value) if token.kind != "number" else f"number {token.value}"


# --- Parser ----------------------------------------------------------------------------------------------------------

_BINARY_POWER = {"+": 10, "-": 10, "*": 20, "/": 20}
_UNARY_POWER = 30
# Parentheses nest without adding AST depth; this bounds the parser's own recursion.
_MAX_NESTING = 2 * MAX_DEPTH
# Function: (fewest arguments, most arguments or None for any number).
_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "ROUND": (1, 2), "CEIL": (1, 1), "FLOOR": (1, 1), "ABS": (1, 1),
    "MIN": (1, None), "MAX": (1, None), "CONCAT": (1, None), "COALESCE": (1, None),
}
FUNCTIONS = frozenset(_FUNCTIONS)


class _Parser:
    def __init__(self, source: str):
        self.tokens = _tokenize(source)
        self.index = 0
        self.nodes = 0
        self.nesting = 0

    def parse(self) -> Node:
        if self.tokens[0].kind == "end":
            raise _invalid("empty expression", 0)
        node, _depth = self.expression(0)
        token = self.tokens[self.index]
        if token.kind != "end":
            raise _invalid(f"unexpected {_describe(token)}", token.start)
        return node

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_op(self, op: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "op" and token.value == op

    def expect_op(self, op: str, what: str) -> _Token:
        token = self.advance()
        if token.kind != "op" or token.value != op:
            raise _invalid(f"expected {what}, found {_describe(token)}", token.start)
        return token

    def counted(self, depth: int, position: int) -> int:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _invalid(f"expression too long (more than {MAX_NODES} terms)", position)
        if depth > MAX_DEPTH:
            raise _invalid(f"expression nested too deeply (more than {MAX_DEPTH} levels)", position)
        return depth

    def expression(self, min_power: int) -> tuple[Node, int]:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise _invalid("expression nested too deeply", self.peek().start)
        left, depth = self.prefix()
        while True:
            token = self.peek()
            power = _BINARY_POWER.get(token.value) if token.kind == "op" else None  # type: ignore[arg-type]
            if power is None or power <= min_power:
                break
            self.advance()
            right, right_depth = self.expression(power)  # left-associative: the right side binds tighter
            depth = self.counted(1 + max(depth, right_depth), token.start)
            left = Binary(str(token.value), left, right, left.start, right.end)
        self.nesting -= 1
        return left, depth

    def prefix(self) -> tuple[Node, int]:
        token = self.advance()
        if token.kind in ("number", "string"):
            return Literal(token.value, token.start, token.end), self.counted(1, token.start)  # type: ignore[arg-type]
        if token.kind == "op" and token.value in ("-", "+"):
            operand, depth = self.expression(_UNARY_POWER)
            return Unary(str(token.value), operand, token.start, operand.end), self.counted(depth + 1, token.start)
        if token.kind == "op" and token.value == "(":
            inner, depth = self.expression(0)
            self.expect_op(")", "')'")
            return inner, depth
        if token.kind == "ident":
            name = str(token.value)
            if self.at_op("("):
                return self.call(token)
            if name.lower() in ("true", "false"):
                return Literal(name.lower() == "true", token.start, token.end), self.counted(1, token.start)
            if name == "event":
                return self.event(token), self.counted(1, token.start)
            raise _invalid(f"unknown name {name!r} (values come from event.properties.<name>)", token.start)
        raise _invalid(f"unexpected {_describe(token)}", token.start)

    def event(self, event: _Token) -> Node:
        self.expect_op(".", "'.' after 'event'")
        attribute = self.advance()
        if attribute.kind != "name":
            raise _invalid(f"expected an attribute after 'event.', found {_describe(attribute)}", attribute.start)
        if attribute.value in ("timestamp", "code"):
            return EventField(str(attribute.value), event.start, attribute.end)
        if attribute.value != "properties":
            raise _invalid(f"unknown event attribute {attribute.value!r} "
                           "(use event.properties, event.timestamp or event.code)", attribute.start)
        token = self.advance()
        if token.kind == "op" and token.value == ".":
            name = self.advance()
            if name.kind != "name":
                raise _invalid(f"expected a property name, found {_describe(name)}", name.start)
            return PropertyRef(str(name.value), event.start, name.end)
        if token.kind == "op" and token.value == "[":
            key = self.advance()
            if key.kind != "string" or not key.value:
                raise _invalid("expected a property name in quotes", key.start)
            close = self.expect_op("]", "']'")
            return PropertyRef(str(key.value), event.start, close.end)
        raise _invalid("expected .<name> or ['<name>'] after 'event.properties'", token.start)

    def call(self, name: _Token) -> tuple[Node, int]:
        function = str(name.value).upper()
        arity = _FUNCTIONS.get(function)
        if arity is None:
            raise _invalid(f"unknown function {name.value!r}", name.start)
        self.advance()  # (
        args: list[Node] = []
        depth = 0
        if not self.at_op(")"):
            while True:
                arg, arg_depth = self.expression(0)
                args.append(arg)
                depth = max(depth, arg_depth)
                if not self.at_op(","):
                    break
                self.advance()
        close = self.expect_op(")", "',' or ')'")
        fewest, most = arity
        if len(args) < fewest or (most is not None and len(args) > most):
            expected = f"{fewest}" if fewest == most else f"{fewest} or {most}" if most else f"at least {fewest}"
            raise _invalid(f"{function} takes {expected} argument(s), got {len(args)}", name.start)
        if function == "ROUND" and len(args) == 2 and isinstance(args[1], Literal):
            digits = args[1]
            if _round_digits(digits.value) is None:
                raise _invalid(f"ROUND's digits must be a whole number from 0 to {MAX_ROUND_DIGITS}", digits.start)
        return Call(function, tuple(args), name.start, close.end), self.counted(depth + 1, name.start)


# --- Evaluation: the AST compiled once into closures of (properties, timestamp, code) -------------------------------

_Run = Callable[[Mapping[str, object], object, object], Value]


def _label(node: Node, source: str) -> str:
    """How an error names an operand: a property by its name, anything else by its (shortened) text."""
    if isinstance(node, PropertyRef):
        return node.name
    if isinstance(node, EventField):
        return f"event.{node.name}"
    text = source[node.start:node.end]
    return text if len(text) <= _LABEL_LIMIT else text[:_LABEL_LIMIT - 3] + "..."


def _to_number(value: Value, label: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        number = parse_decimal(value)
        if number is not None:
            return number
    raise _not_a_number(label)


def _property_value(name: str, value: object) -> Value:
    """A property's raw value as an expression value (the common cases are handled inline)."""
    if value is None:
        raise _missing(name)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        number = parse_decimal(value)
        if number is None:  # NaN or infinity
            raise _not_a_number(name)
        return number
    raise ExpressionError("unsupported_value", f"unsupported_value:{name}", detail=name)


def _round_digits(value: Value) -> int | None:
    if isinstance(value, bool):
        return None
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= MAX_ROUND_DIGITS:
        return None
    return int(number)


def _round(value: Decimal, digits: int) -> Decimal:
    if digits == 0:
        return value.to_integral_value(ROUND_HALF_UP, _CTX)
    # to_integral_value is exact whatever the length; scaleb is made exact by _EXACT.
    shifted = value.scaleb(digits, _EXACT).to_integral_value(ROUND_HALF_UP, _CTX)
    return shifted.scaleb(-digits, _EXACT)


def _plain(value: Decimal) -> str:
    if not value:
        return "0"
    if not -_PLAIN_LIMIT <= value.adjusted() <= _PLAIN_LIMIT:
        return str(value.normalize(_EXACT))
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return _plain(value)
    return value


def _compile(node: Node, source: str) -> _Run:  # noqa: C901 - one branch per node kind
    if isinstance(node, Literal):
        constant = node.value

        def literal(properties, timestamp, code):
            return constant
        return literal

    if isinstance(node, PropertyRef):
        name = node.name

        def prop(properties, timestamp, code):
            try:
                value = properties[name]
            except KeyError:
                raise _missing(name) from None
            cls = value.__class__
            if cls is str:
                return value
            if cls is int:
                return Decimal(value)
            return _property_value(name, value)
        return prop

    if isinstance(node, EventField):
        if node.name == "code":
            def event_code(properties, timestamp, code):
                if code is None:
                    raise _missing("event.code")
                return str(code)
            return event_code

        def event_timestamp(properties, timestamp, code):
            if timestamp.__class__ is Decimal:
                return timestamp
            if timestamp is None:
                raise _missing("event.timestamp")
            number = parse_decimal(timestamp)
            if number is None:
                raise _not_a_number("event.timestamp")
            return number
        return event_timestamp

    if isinstance(node, Unary):
        operand, label = _compile(node.operand, source), _label(node.operand, source)
        apply = _CTX.minus if node.op == "-" else _CTX.plus

        def unary(properties, timestamp, code):
            value = operand(properties, timestamp, code)
            if value.__class__ is not Decimal:
                value = _to_number(value, label)
            return apply(value)
        return unary

    if isinstance(node, Binary):
        return _compile_binary(node, source)
    return _compile_call(node, source)


def _compile_binary(node: Binary, source: str) -> _Run:
    left, left_label = _compile(node.left, source), _label(node.left, source)
    right, right_label = _compile(node.right, source), _label(node.right, source)
    if node.op == "/":
        divide = _CTX.divide

        def division(properties, timestamp, code):
            a = left(properties, timestamp, code)
            if a.__class__ is not Decimal:
                a = _to_number(a, left_label)
            b = right(properties, timestamp, code)
            if b.__class__ is not Decimal:
                b = _to_number(b, right_label)
            if not b:
                raise ExpressionError("division_by_zero", f"division_by_zero:{right_label}", detail=right_label)
            return divide(a, b)
        return division

    apply = {"+": _CTX.add, "-": _CTX.subtract, "*": _CTX.multiply}[node.op]

    def binary(properties, timestamp, code):
        a = left(properties, timestamp, code)
        if a.__class__ is not Decimal:
            a = _to_number(a, left_label)
        b = right(properties, timestamp, code)
        if b.__class__ is not Decimal:
            b = _to_number(b, right_label)
        return apply(a, b)
    return binary


def _compile_call(node: Call, source: str) -> _Run:  # noqa: C901 - one branch per function
    args = tuple(_compile(arg, source) for arg in node.args)
    labels = tuple(_label(arg, source) for arg in node.args)
    function = node.function

    if function in ("ROUND", "CEIL", "FLOOR", "ABS"):
        operand, label = args[0], labels[0]
        if function == "ROUND":
            digits_arg: _Run | None = None
            fixed_digits = 0
            if len(node.args) == 2:
                digits_node = node.args[1]
                if isinstance(digits_node, Literal):
                    fixed_digits = _round_digits(digits_node.value) or 0  # checked by the parser
                else:
                    digits_arg = args[1]

            def apply(value: Decimal, properties, timestamp, code) -> Decimal:
                digits = fixed_digits
                if digits_arg is not None:
                    checked = _round_digits(digits_arg(properties, timestamp, code))
                    if checked is None:
                        raise ExpressionError("invalid_argument", "invalid_argument:ROUND's digits must be a whole "
                                              f"number from 0 to {MAX_ROUND_DIGITS}", detail=labels[1])
                    digits = checked
                return _round(value, digits)
        elif function == "ABS":
            def apply(value, properties, timestamp, code):
                return _CTX.abs(value)
        else:
            rounding = ROUND_CEILING if function == "CEIL" else ROUND_FLOOR

            def apply(value, properties, timestamp, code):
                return value.to_integral_value(rounding, _CTX)

        def numeric(properties, timestamp, code):
            value = operand(properties, timestamp, code)
            if value.__class__ is not Decimal:
                value = _to_number(value, label)
            return apply(value, properties, timestamp, code)
        return numeric

    if function in ("MIN", "MAX"):
        pick = min if function == "MIN" else max
        pairs = tuple(zip(args, labels, strict=True))

        def extreme(properties, timestamp, code):
            return pick(_to_number(arg(properties, timestamp, code), label) for arg, label in pairs)
        return extreme

    if function == "CONCAT":
        def concat(properties, timestamp, code):
            return "".join([_text(arg(properties, timestamp, code)) for arg in args])
        return concat

    def coalesce(properties, timestamp, code):
        missing: ExpressionError | None = None
        for arg in args:
            try:
                return arg(properties, timestamp, code)
            except ExpressionError as error:
                if error.code != "missing_property":
                    raise
                missing = error
        assert missing is not None
        raise missing
    return coalesce


def _property_names(node: Node) -> set[str]:
    if isinstance(node, PropertyRef):
        return {node.name}
    if isinstance(node, Unary):
        return _property_names(node.operand)
    if isinstance(node, Binary):
        return _property_names(node.left) | _property_names(node.right)
    if isinstance(node, Call):
        return set().union(*(_property_names(arg) for arg in node.args))
    return set()


# --- API -------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression; build one with `parse_expression`. Equal when their texts are."""

    source: str
    root: Node = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_run", _compile(self.root, self.source))
        object.__setattr__(self, "property_names", frozenset(_property_names(self.root)))

    def evaluate(self, *, properties: Mapping[str, object], timestamp: Decimal | None = None,
                 code: str | None = None) -> Decimal | str | bool:
        try:
            result = self._run(properties, timestamp, code)  # type: ignore[attr-defined]
        except DecimalException:
            raise ExpressionError("overflow", "overflow: a number is beyond 1E+999999") from None
        if result.__class__ is Decimal and not result:
            return _ZERO  # never -0
        return result


class _ParseFailure(NamedTuple):
    message: str
    position: int


@lru_cache(maxsize=1024)
def _parse(source: str) -> Expression | _ParseFailure:
    try:
        return Expression(source, _Parser(source).parse())
    except ExpressionError as error:  # cached too: a metric's broken expression is not re-parsed per event
        return _ParseFailure(error.message, error.position or 0)


def parse_expression(source: str) -> Expression:
    """The expression `source` parsed (cached), or ExpressionError(code="invalid_expression") naming a position."""
    if not isinstance(source, str):
        raise ExpressionError("invalid_expression", "invalid_expression: an expression must be text", position=0)
    if len(source) > MAX_LENGTH:
        raise _invalid(f"expression longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parsed = _parse(source)
    if isinstance(parsed, _ParseFailure):
        raise ExpressionError("invalid_expression", parsed.message, position=parsed.position)
    return parsed


def evaluate_number(expression: Expression, *, properties: Mapping[str, object], timestamp: Decimal | None = None,
                    code: str | None = None) -> Decimal:
    """`expression.evaluate(...)` as a Decimal: a numeric string is converted, anything else is `not_a_number`."""
    value = expression.evaluate(properties=properties, timestamp=timestamp, code=code)
    if value.__class__ is Decimal:
        return value  # type: ignore[return-value]
    return _to_number(value, _label(expression.root, expression.source))


def referenced_properties(expression: Expression) -> frozenset[str]:
    """The event property names the expression reads (a metric may, e.g., require them at ingestion)."""
    return expression.property_names  # type: ignore[attr-defined]


# ---------------------------------------------------------------- trying an expression on a sample event

MAX_SAMPLE_LENGTH = 10_000


@dataclass(frozen=True)
class ExpressionTrial:
    """What an expression makes of one sample event: a value, or why it cannot say.

    `problem` is an ExpressionError code (invalid_expression, missing_property, not_a_number, ...),
    or one of the sample's own: no_expression, invalid_json, not_an_object, sample_too_long.
    """

    value: str | None = None
    kind: str | None = None  # number | text | boolean
    problem: str | None = None
    detail: str | None = None  # the property or operand named, or the parser's message
    position: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def try_expression(*, expression: str, sample_properties: str, code: str, timestamp: Decimal) -> ExpressionTrial:
    """Evaluate `expression` on a sample event (JSON properties, Unix `timestamp`); never raise for bad input."""
    expression = (expression or "").strip()
    if not expression:
        return ExpressionTrial(problem="no_expression")
    try:
        parsed = parse_expression(expression)
    except ExpressionError as failure:
        return ExpressionTrial(problem=failure.code, detail=_reason(failure), position=failure.position)
    properties, problem = _sample(sample_properties)
    if problem is not None:
        return problem
    try:
        value = parsed.evaluate(properties=properties, timestamp=timestamp, code=code or None)
    except ExpressionError as failure:
        return ExpressionTrial(problem=failure.code, detail=failure.detail or _reason(failure),
                               position=failure.position)
    if isinstance(value, bool):
        return ExpressionTrial(value="true" if value else "false", kind="boolean")
    if isinstance(value, Decimal):
        return ExpressionTrial(value=decimal_str(value), kind="number")
    return ExpressionTrial(value=str(value), kind="text")


def _sample(text: str) -> tuple[Mapping[str, object], ExpressionTrial | None]:
    text = (text or "").strip() or "{}"
    if len(text) > MAX_SAMPLE_LENGTH:
        return {}, ExpressionTrial(problem="sample_too_long")
    try:
        properties = json.loads(text)
    except json.JSONDecodeError as failure:
        return {}, ExpressionTrial(problem="invalid_json", detail=f"line {failure.lineno}, column {failure.colno}")
    except (ValueError, RecursionError):
        return {}, ExpressionTrial(problem="invalid_json")
    if not isinstance(properties, dict):
        return {}, ExpressionTrial(problem="not_an_object")
    return properties, None


def _reason(failure: ExpressionError) -> str:
    """The parser's message without its leading code (`invalid_expression: ...`)."""
    message = failure.message
    prefix = f"{failure.code}: "
    return message[len(prefix):] if message.startswith(prefix) else message


# ---------------------------------------------------------------- evaluating an expression sent to the API
