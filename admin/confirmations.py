"""Actions that move money or cannot be undone ask first, and name the amount.

The action's first post answers with a `Confirmation` instead of acting: the question, and a form that posts the
same fields again with `confirmed=1`. The second post acts. The question is rendered by the `confirmation` macro
(templates/admin/_confirm.html) where the action's answer swaps in, so it works the same with htmx and without
JavaScript, and the amount named is read on the server when asking, never a stale figure from the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from wording import notices


@dataclass(frozen=True)
class Confirmation:
    question: str
    answer: str  # the button that confirms, naming the amount
    action_url: str
    target: str  # the htmx target both answers swap into
    cancel_url: str  # the page without the question
    cancel_fragment_url: str  # the same for htmx: the target's content
    fields: tuple[tuple[str, str], ...] = ()  # what was typed, posted again with the answer
    danger: bool = False  # cannot be undone at all (void, terminate): the answer looks like it
    about: str | None = None  # which item of a list it is about (a wallet's id), to show it next to it


def confirmed() -> bool:
    """The question was answered: this post acts."""
    return request.form.get("confirmed") == "1"


def typed(*names: str) -> tuple[tuple[str, str], ...]:
    """The posted fields to post again with the answer (csrf and the answer itself excluded)."""
    return tuple((name, value) for name in names for value in request.form.getlist(name))


def ask(code: str, *, action_url: str, target: str, cancel_url: str, cancel_fragment_url: str,
        fields: tuple[tuple[str, str], ...] = (), danger: bool = False, about: str | None = None,
        **values: object) -> Confirmation:
    """The confirmation of the action `code` (wording.notices.CONFIRMATIONS), its amounts filled in."""
    question, answer = notices.confirmation(code, **values)
    return Confirmation(question=question, answer=answer, action_url=action_url, target=target,
                        cancel_url=cancel_url, cancel_fragment_url=cancel_fragment_url, fields=fields,
                        danger=danger, about=about)
