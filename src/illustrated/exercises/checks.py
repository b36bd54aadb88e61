"""Shared machinery of the check functions: run a student's function, compare it with a reference, name the mistake.

A check runs the student's function on a list of :class:`Case` inputs (random ones and edge
cases), compares each result with a reference implementation, and on the first difference
raises :class:`ExerciseError`, an ``AssertionError`` whose message is one sentence. When the wrong
result equals what a known :class:`Mistake` would return (for instance scores that were not
divided by sqrt(d_k)), the message names that mistake instead of only reporting wrong numbers.

Because a failure is an ``AssertionError`` and a success returns None, every ``check_*``
function can serve as a test in an autograder as it is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Case", "Mistake", "ExerciseError", "compare_with_reference", "to_array", "report_success", "attempt"]


class ExerciseError(AssertionError):
    """A student's solution gave a wrong result, and the message states in one sentence what is wrong."""


@dataclass(frozen=True)
class Case:
    """One input on which a student's function is run: a short description, then its arguments."""

    description: str  # e.g. "two tokens with d_k = 4", used in messages
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    hint: str = ""  # a sentence added to the message when the function raises on this case


@dataclass(frozen=True)
class Mistake:
    """A typical wrong solution: an implementation of it, and the sentence to show when a result matches it."""

    message: str  # a full sentence that names the mistake and how to fix it
    implementation: Callable[..., Any]


def to_array(value, what: str = "the result") -> np.ndarray:
    """Convert a student's result (NumPy array, torch tensor, list or number) to a NumPy array.

    Raises ExerciseError for None, which usually means a missing ``return``.
    """
    if value is None:
        raise ExerciseError(f"{what} is None: did the function forget to `return` its value?")
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ExerciseError(f"{what} could not be read as an array ({error}).") from None


def _same(result: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Return True if both arrays have one shape and agree within tolerance, NaN matching NaN."""
    if result.shape != expected.shape:
        return False
    if result.dtype == bool or expected.dtype == bool:
        return result.dtype == expected.dtype and bool(np.array_equal(result, expected))
    try:
        return bool(np.allclose(result.astype(float), expected.astype(float), rtol=rtol, atol=atol, equal_nan=True))
    except (TypeError, ValueError):
        return False


def _as_parts(value, count: int | None) -> list:
    """Split a result into its parts: a tuple of ``count`` arrays, or one array when ``count`` is None."""
    if count is None:
        return [value]
    if not isinstance(value, (tuple, list)) or len(value) != count:
        kind = type(value).__name__
        size = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
        raise ExerciseError(f"The function must return a tuple of {count} arrays, but it returned a {kind}{size}.")
    return list(value)


def _first_difference(result: np.ndarray, expected: np.ndarray) -> str:
    """Describe where two arrays of one shape first differ, e.g. "at index (0, 2) got 0.31 instead of 0.25"."""
    with np.errstate(invalid="ignore"):
        differs = ~np.isclose(result.astype(float), expected.astype(float), rtol=1e-6, atol=1e-9, equal_nan=True)
    index = tuple(int(i) for i in np.argwhere(differs)[0])
    got, want = result[index], expected[index]
    return f"at index {index} it returned {got:.4g} instead of {want:.4g}"


def compare_with_reference(student: Callable, reference: Callable, cases: Sequence[Case], *,
                           mistakes: Sequence[Mistake] = (), name: str = "the function",
                           parts: Sequence[str] | None = None, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Run ``student`` and ``reference`` on every case and raise ExerciseError at the first difference.

    Args:
        student: the function under test.
        reference: a correct implementation with the same signature.
        cases: the inputs. Each case's arguments are deep-copied before each call, so a function
            that changes its inputs in place is caught and cannot spoil later calls.
        mistakes: known wrong implementations; a result equal to one of them gets its message.
        name: how messages refer to the student's function, e.g. "`softmax`".
        parts: names of the parts when the function returns a tuple, e.g. ``("q", "k", "v")``.
        rtol, atol: tolerances of ``numpy.allclose``.
    """
    if not callable(student):
        raise ExerciseError(f"Pass the function itself to the check, not {type(student).__name__} {student!r}.")
    count = None if parts is None else len(parts)

    for case in cases:
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        try:
            with np.errstate(all="ignore"):
                raw = student(*args, **kwargs)
        except Exception as error:  # any error in student code is reported, not raised
            hint = f" {case.hint}" if case.hint else ""
            raise ExerciseError(
                f"{name} raised {type(error).__name__} ({error}) on {case.description}.{hint}"
            ) from error
        if not all(_unchanged(before, after) for before, after in zip(case.args, args)):
            raise ExerciseError(f"{name} changed its input arrays in place on {case.description}; work on copies.")

        expected_parts = _as_parts(reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)), count)
        result_parts = [to_array(part, _part_name(name, parts, i)) for i, part in enumerate(_as_parts(raw, count))]
        expected_parts = [np.asarray(part) for part in expected_parts]
        if all(_same(r, e, rtol, atol) for r, e in zip(result_parts, expected_parts)):
            continue

        for mistake in mistakes:
            try:
                with np.errstate(all="ignore"):
                    wrong = _as_parts(mistake.implementation(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)), count)
            except Exception:  # a mistake that cannot run on this case cannot explain it
                continue
            if all(_same(r, np.asarray(w), rtol, atol) for r, w in zip(result_parts, wrong)):
                raise ExerciseError(f"{mistake.message} (Seen on {case.description}.)")

        for i, (result, expected) in enumerate(zip(result_parts, expected_parts)):
            what = _part_name(name, parts, i)
            if result.shape != expected.shape:
                raise ExerciseError(
                    f"{what} has shape {result.shape} but should have shape {expected.shape} on {case.description}."
                )
            if expected.dtype == bool and result.dtype != bool:
                raise ExerciseError(f"{what} has dtype {result.dtype} but should be boolean (dtype bool).")
            if np.issubdtype(result.dtype, np.number) and np.isnan(result.astype(float)).any() \
                    and not np.isnan(expected.astype(float)).any():
                raise ExerciseError(f"{what} contains NaN on {case.description}, where every value should be finite.")
            if not _same(result, expected, rtol, atol):
                detail = _first_difference(result, expected) if np.issubdtype(result.dtype, np.number) else "values differ"
                raise ExerciseError(f"{what} is wrong on {case.description}: {detail}.")


def _part_name(name: str, parts, index: int) -> str:
    return f"The result of {name}" if parts is None else f"The `{parts[index]}` returned by {name}"


def _unchanged(before, after) -> bool:
    """Return True if an argument still equals its copy taken before the call (non-arrays always pass)."""
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and before.shape == after.shape and \
            bool(np.array_equal(before, after, equal_nan=before.dtype.kind == "f"))
    return True


def report_success(message: str) -> None:
    """Print a one-line success message, so a notebook cell shows that the check passed."""
    print(f"Correct! {message}")



def attempt(check: Callable[[Callable], None], student_fn: Callable) -> None:
    """Run ``check(student_fn)`` and print its verdict instead of raising, for the cell under an exercise.

    An unfinished function (one that still raises NotImplementedError) gets a reminder instead of an error.
    """
    try:
        check(student_fn)
    except ExerciseError as error:
        if isinstance(error.__cause__, NotImplementedError):
            print("Not attempted yet: write the function above, then run this cell again.")
        else:
            print(f"Not yet: {error}")
