"""The safe expression language of billable metrics' custom expressions (billing/metering/expression.py)."""

import ast
import pickle
import sys
from decimal import Context, Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.metering import expression as expression_module
from billing.metering.expression import (
    MAX_LENGTH,
    Expression,
    ExpressionError,
    evaluate_number,
    parse_expression,
    referenced_properties,
    try_expression,
)

BILLING_EXAMPLE = "round((event.properties.ended_at - event.properties.started_at) * event.properties.units)"
FORTY_DIGITS = Context(prec=40, Emax=999_999, Emin=-999_999)


def run(source, **properties):
    return parse_expression(source).evaluate(properties=properties)


def error_of(source, properties=None, **kwargs) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source).evaluate(properties=properties or {}, **kwargs)
    return caught.value


# --- Worked examples -------------------------------------------------------------------------------------------------


def test_the_billing_md_example():
    properties = {"ended_at": 1700000090, "started_at": 1700000000, "units": "2.5"}
    result = parse_expression(BILLING_EXAMPLE).evaluate(properties=properties)
    assert result == Decimal(225) and isinstance(result, Decimal)


@pytest.mark.parametrize(("source", "expected"), [
    ("10 - 2 - 3", Decimal(5)),           # left-associative
    ("2 + 3 * 4", Decimal(14)),           # * before +
    ("(2 + 3) * 4", Decimal(20)),
    ("-2 * 3", Decimal(-6)),
    ("2 * -3", Decimal(-6)),
    ("2 - -3", Decimal(5)),
    ("+4 - +1", Decimal(3)),
    ("8 / 4 / 2", Decimal(1)),            # left-associative
    ("8 / (4 / 2)", Decimal(4)),
    ("12 - 6 / 3 * 2", Decimal(8)),
    ("1e3 + 0.5", Decimal("1000.5")),
    ("1.", Decimal(1)),
    ("  7\n*\t2 ", Decimal(14)),
])
def test_precedence_and_associativity(source, expected):
    assert run(source) == expected


def test_arithmetic_is_exact_decimal():
    assert run("0.1 + 0.2") == Decimal("0.3")
    assert run("1 / 3") == Decimal("0." + "3" * 40)  # 40 significant digits
    assert run("event.properties.a * 3", a=0.1) == Decimal("0.3")  # floats by repr, never binary noise


@pytest.mark.parametrize(("source", "expected"), [
    ("ROUND(2.5)", Decimal(3)), ("ROUND(-2.5)", Decimal(-3)), ("ROUND(2.4999)", Decimal(2)),   # half up
    ("ROUND(2.345, 2)", Decimal("2.35")), ("ROUND(0.125, 2)", Decimal("0.13")), ("ROUND(7, 3)", Decimal(7)),
    ("ROUND(1.23456789, 15)", Decimal("1.23456789")),
    ("CEIL(1.2)", Decimal(2)), ("CEIL(-1.2)", Decimal(-1)), ("FLOOR(1.8)", Decimal(1)), ("FLOOR(-1.2)", Decimal(-2)),
    ("ABS(-4.5)", Decimal("4.5")), ("MIN(3, 1.5, 2)", Decimal("1.5")), ("MAX(3, '7', 2)", Decimal(7)),
    ("MIN(4)", Decimal(4)), ("round(2.5)", Decimal(3)), ("Ceil(0.1)", Decimal(1)),  # names are case-insensitive
    ("CEIL(-0.5)", Decimal(0)),
])
def test_functions(source, expected):
    assert run(source) == expected


def test_results_are_never_negative_zero():
    for source in ("CEIL(-0.5)", "ROUND(-0.4)", "-1 * 0", "-0"):
        assert str(run(source)) == "0"


def test_round_with_digits_from_the_event():
    assert run("ROUND(event.properties.x, event.properties.d)", x="3.14159", d=3) == Decimal("3.142")
    assert run("ROUND(event.properties.x, event.properties.d)", x="3.14159", d="0") == Decimal(3)


def test_round_keeps_long_numbers_exact():
    long = "1234567890123456789012345678901234567890123.456"  # 46 digits: more than the 40 of arithmetic
    assert run("ROUND(event.properties.x, 2)", x=long) == Decimal("1234567890123456789012345678901234567890123.46")
    assert run("ROUND(event.properties.x)", x=long) == Decimal("1234567890123456789012345678901234567890123")
    assert run("ROUND(1e999999, 15)") == Decimal("1e999999")


@pytest.mark.parametrize(("source", "expected"), [
    ("CONCAT(1.50, '-', true, '-', false)", "1.5-true-false"),
    ("CONCAT('a', 'b', 'c')", "abc"),
    ("CONCAT(1e3)", "1000"),
    ("CONCAT(0.000)", "0"),
    ("CONCAT(-1 * 0)", "0"),
    ("CONCAT(1 / 4)", "0.25"),
    ("CONCAT(100)", "100"),
    ("CONCAT('it''s')", "it's"),
    ("CONCAT(1e200)", "1E+200"),  # beyond 1E+100 in scientific notation: no megabyte strings
    ("concat(event.properties.region, '/', event.properties.tier)", "eu/2"),
    ("CONCAT(event.code, ':', event.timestamp)", "calls:1700000000.5"),
])
def test_concat(source, expected):
    properties = {"region": "eu", "tier": 2}
    result = parse_expression(source).evaluate(properties=properties, timestamp=Decimal("1700000000.5"), code="calls")
    assert result == expected


def test_coalesce_takes_the_first_value_that_is_present():
    source = "COALESCE(event.properties.a, event.properties.b, 0)"
    assert run(source, b="4") == "4"
    assert run(source, a=1, b=2) == Decimal(1)
    assert run(source) == Decimal(0)
    assert run(source, a=None, b=None) == Decimal(0)  # null counts as missing
    # A missing value makes the whole argument missing, as SQL's NULL propagates.
    assert run("COALESCE(event.properties.a * 2, -1)") == Decimal(-1)
    assert run("COALESCE(event.properties.a * 2, -1)", a="1.5") == Decimal(3)


def test_coalesce_of_only_missing_values_is_missing():
    error = error_of("COALESCE(event.properties.a, event.properties.b)")
    assert (error.code, str(error)) == ("missing_property", "missing_property:b")


def test_coalesce_swallows_only_missing_values():
    assert error_of("COALESCE(1 / 0, 2)").code == "division_by_zero"
    assert error_of("COALESCE(event.properties.a + 1, 2)", {"a": "x"}).code == "not_a_number"


def test_event_attributes_and_property_values():
    expression = parse_expression("event.timestamp")
    assert expression.evaluate(properties={}, timestamp=Decimal("1700000000")) == Decimal(1700000000)
    assert parse_expression("event.code").evaluate(properties={}, code="api_calls") == "api_calls"
    assert run("event.properties['any key!'] + event.properties.1st", **{"any key!": 1, "1st": "2"}) == Decimal(3)
    assert run("event.properties['it''s']", **{"it's": "x"}) == "x"
    assert run("event.properties.flag", flag=True) is True
    assert run("true") is True and run("FALSE") is False
    assert run("'text'") == "text"
    assert run("event.properties.n", n=7) == Decimal(7)
    assert run("event.properties.n", n="12.5") == "12.5"  # a string stays a string until arithmetic needs a number
    assert run("event.properties.n * 1", n=" 12.5 ") == Decimal("12.5")
    assert run("event.properties.n", n=Decimal("0.0125")) == Decimal("0.0125")


def test_evaluate_number():
    properties = {"n": "12.5", "word": "abc", "flag": True}
    assert evaluate_number(parse_expression("event.properties.n"), properties=properties) == Decimal("12.5")
    assert evaluate_number(parse_expression("CONCAT(1, 2)"), properties=properties) == Decimal(12)
    assert evaluate_number(parse_expression("2 * 3"), properties=properties) == Decimal(6)
    with pytest.raises(ExpressionError) as caught:
        evaluate_number(parse_expression("event.properties.word"), properties=properties)
    assert (caught.value.code, str(caught.value)) == ("not_a_number", "not_a_number:word")
    with pytest.raises(ExpressionError) as caught:
        evaluate_number(parse_expression("event.properties.flag"), properties=properties)
    assert caught.value.code == "not_a_number"


def test_referenced_properties():
    assert referenced_properties(parse_expression(BILLING_EXAMPLE)) == frozenset({"ended_at", "started_at", "units"})
    source = "COALESCE(event.properties['a b'], MAX(event.properties.c, event.timestamp)) + 1"
    assert referenced_properties(parse_expression(source)) == frozenset({"a b", "c"})
    assert referenced_properties(parse_expression("event.code")) == frozenset()


def test_parsing_is_cached_and_expressions_compare_by_source():
    first = parse_expression(BILLING_EXAMPLE)
    assert parse_expression(BILLING_EXAMPLE) is first
    again = Expression(BILLING_EXAMPLE, first.root)
    assert first == again and hash(first) == hash(again) and first != parse_expression("1")
    with pytest.raises(ExpressionError):
        parse_expression("1 +")
    with pytest.raises(ExpressionError) as again:  # a cached failure still raises a fresh error
        parse_expression("1 +")
    assert again.value.position == 3


# --- Errors -------------------------------------------------------------------------------------------------------


def test_missing_property():
    error = error_of(BILLING_EXAMPLE, {"ended_at": 1, "units": 1})
    assert (error.code, str(error), error.detail) == ("missing_property", "missing_property:started_at", "started_at")
    assert str(error_of("event.properties.a", {"a": None})) == "missing_property:a"
    assert str(error_of("event.timestamp")) == "missing_property:event.timestamp"
    assert str(error_of("event.code")) == "missing_property:event.code"


def test_not_a_number():
    error = error_of(BILLING_EXAMPLE, {"ended_at": 1, "started_at": 0, "units": "two"})
    assert (error.code, str(error)) == ("not_a_number", "not_a_number:units")
    assert str(error_of("-event.properties.flag", {"flag": True})) == "not_a_number:flag"
    assert str(error_of("'abc' * 2")) == "not_a_number:'abc'"
    assert str(error_of("2 * CONCAT('a', 'b')")) == "not_a_number:CONCAT('a', 'b')"
    assert error_of("true + 1").code == "not_a_number"
    assert error_of("ABS(event.properties.x)", {"x": float("nan")}).code == "not_a_number"
    assert error_of("event.properties.x + 1", {"x": "Infinity"}).code == "not_a_number"
    assert error_of("MIN(1, 'x')").code == "not_a_number"


def test_division_by_zero():
    for source in ("1 / 0", "0 / 0", "1 / (event.properties.a - event.properties.a)", "1 / event.properties.z"):
        error = error_of(source, {"a": 3, "z": "0.00"})
        assert error.code == "division_by_zero"


def test_invalid_argument_for_rounding_digits():
    for digits in (-1, 16, "1.5", "x"):
        error = error_of("ROUND(1.5, event.properties.d)", {"d": digits})
        assert error.code == "invalid_argument"


def test_unsupported_value():
    error = error_of("CONCAT(event.properties.tags)", {"tags": ["a", "b"]})
    assert (error.code, str(error)) == ("unsupported_value", "unsupported_value:tags")
    assert error_of("event.properties.meta", {"meta": {"a": 1}}).code == "unsupported_value"


def test_overflow():
    assert error_of("1e999999 * 10").code == "overflow"
    assert error_of("event.properties.x * event.properties.x", {"x": "1e600000"}).code == "overflow"


@pytest.mark.parametrize(("source", "position"), [
    ("1 +", 3), ("(1 + 2", 6), ("1 2", 2), ("", 0), ("   ", 0), ("'abc", 0), ("1 $ 2", 2), ("12abc", 0),
    ("ROUND()", 0), ("ROUND(1, 2, 3)", 0), ("CEIL(1, 2)", 0), ("MAX()", 0), ("ROUND(1, 16)", 9), ("ROUND(1, 0.5)", 9),
    ("ROUND(1, true)", 9), ("event", 5), ("event.", 6), ("event.properties", 16), ("event.properties.", 17),
    ("event.properties.a.b", 18), ("event.properties['']", 17), ("event.properties[1]", 17),
    ("event.properties['a'", 20), ("MIN(1,)", 6), ("1e99999999", 0), ('"text"', 0), ("1..2", 0), ("*", 0),
])
def test_parse_errors_name_a_position(source, position):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source)
    assert caught.value.code == "invalid_expression"
    assert caught.value.position == position
    assert f"at position {position}" in str(caught.value)


@pytest.mark.parametrize("source", [
    "__import__('os')",
    "__import__('os').system('true')",
    "event.__class__",
    "event.properties.__class__.__mro__",
    "event.properties.get('a')",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "(lambda x: x)(1)",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('1')",
    "globals()",
    "event.timestamp.real",
    "event.payload",
    "event['properties']",
    "event.properties",
    "Decimal(1)",
    "x",
    "1 if true else 2",
    "[1, 2]",
    "{1: 2}",
    "1 ** 2",
    "7 % 2",
    "1 < 2",
    "not true",
    "f'{1}'",
    "'a' 'b'",
    "SUM(1)",
    "ROUND",
    "SELECT 1",
    "1; 2",
    "1 -- comment",
])
def test_python_isms_are_rejected(source):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source)
    assert caught.value.code == "invalid_expression"


def test_python_sql_comment_is_not_a_comment():
    # "1 -- 2" is 1 - (-2) here, not a comment: the language has no comments.
    assert run("1 -- 2") == Decimal(3)


# --- Limits ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "1" + " " * MAX_LENGTH,                       # too long
    "(" * 400 + "1" + ")" * 400,                  # parentheses nested too deeply
    "-" * 999 + "1",                              # unary operators nested too deeply
    "1" + "+1" * 60,                              # AST deeper than 50
    "MAX(" + ",".join(["1"] * 250) + ")",         # more than 200 nodes
    "ABS(" * 60 + "1" + ")" * 60,
    "CONCAT(" + "CONCAT('a'," * 55 + "'b'" + ")" * 56,
])
def test_limits_raise_expression_errors_not_recursion_errors(source):
    with pytest.raises(ExpressionError) as caught:
        parse_expression(source)
    assert caught.value.code == "invalid_expression"


def test_largest_allowed_expressions_work():
    assert run("1" + "+1" * 49) == Decimal(50)                  # depth 50
    assert run("(" * 40 + "1" + ")" * 40) == Decimal(1)         # redundant parentheses are fine
    assert run("MAX(" + ",".join(["1"] * 199) + ")") == Decimal(1)  # 200 nodes


def test_non_text_is_rejected():
    for source in (None, 12, b"1 + 1", ["1"]):
        with pytest.raises(ExpressionError):
            parse_expression(source)


def test_errors_survive_pickling():
    error = error_of("event.properties.a")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, str(copy), copy.detail) == ("missing_property", "missing_property:a", "a")
    assert isinstance(copy, ValueError)


def test_the_module_is_pure_and_never_evaluates_python():
    tree = ast.parse(Path(expression_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"eval", "exec", "compile", "__import__", "getattr"}
    assert "ast" not in imported
    assert all(name == "billing.money" or name.split(".")[0] in sys.stdlib_module_names for name in imported)


def test_a_trial_on_a_sample_event_answers_a_value_or_a_problem_and_never_raises():
    def trial(expression, sample="{}"):
        return try_expression(expression=expression, sample_properties=sample, code="compute",
                              timestamp=Decimal("1700000000.5"))

    assert (trial("event.properties.gb * 2", '{"gb": 1.5}').value, trial("1 + 1").kind) == ("3", "number")
    assert (trial("event.timestamp").value, trial("event.code").kind, trial("true").value) == (
        "1700000000.5", "text", "true")
    assert trial("  ").problem == "no_expression"
    assert (trial("1 +").problem, trial("1 +").position) == ("invalid_expression", 3)
    assert (trial("event.properties.gb", "{}").problem, trial("event.properties.gb", "{}").detail) == (
        "missing_property", "gb")
    assert (trial("1", "{").problem, trial("1", "{").detail) == ("invalid_json", "line 1, column 2")
    assert trial("1", "[1]").problem == "not_an_object"
    assert trial("1", "[" * 20_000).problem == "sample_too_long"
    assert trial("1", "[" * 5_000).problem == "invalid_json"


# --- Properties -----------------------------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-10**15, max_value=10**15).map(Decimal),
    st.decimals(min_value=-10**9, max_value=10**9, places=8, allow_nan=False, allow_infinity=False),
)


def _literal(value: Decimal) -> str:
    return f"({value})"  # str() may give "-5" or "1.2E-7": both parse (unary minus, exponent)


@given(numbers, numbers, numbers)
def test_a_plus_b_times_c_is_decimal_arithmetic(a, b, c):
    with localcontext(FORTY_DIGITS):
        expected = a + b * c
    assert run(f"{_literal(a)} + {_literal(b)} * {_literal(c)}") == expected
    source = "event.properties.a + event.properties.b * event.properties.c"
    assert run(source, a=str(a), b=b, c=int(c) if c == c.to_integral_value() else str(c)) == expected


@given(numbers, numbers, numbers.filter(lambda c: c != 0))
def test_a_minus_b_over_c_is_decimal_arithmetic(a, b, c):
    with localcontext(FORTY_DIGITS):
        expected = (a - b) / c
    assert run(f"({_literal(a)} - {_literal(b)}) / {_literal(c)}") == expected
    assert run("(event.properties.a - event.properties.b) / event.properties.c", a=a, b=str(b), c=str(c)) == expected


_PIECES = [
    "event", ".", "properties", "timestamp", "code", "x", "1st", "[", "]", "'k'", "'", "''", "(", ")", ",",
    "+", "-", "*", "/", "1", "0", "2.5", "1e3", "1e999999", "true", "false", "ROUND", "CEIL", "FLOOR", "MIN",
    "MAX", "ABS", "CONCAT", "COALESCE", "__class__", "lambda", " ", "%", "\\", "\x00", "é", "٣",
]
_EVENT = {"x": "2.5", "1st": 0, "k": None}


def _evaluate_anything(source: str) -> None:
    try:
        expression = parse_expression(source)
    except ExpressionError as error:
        assert error.code == "invalid_expression" and error.position is not None
        return
    try:
        result = expression.evaluate(properties=_EVENT, timestamp=Decimal("1700000000"), code="c")
    except ExpressionError:
        return
    assert isinstance(result, Decimal | str | bool)


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_garbage_never_raises_anything_but_expression_error(source):
    _evaluate_anything(source)


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_PIECES), max_size=60).map("".join))
def test_token_soup_never_raises_anything_but_expression_error(source):
    _evaluate_anything(source)
