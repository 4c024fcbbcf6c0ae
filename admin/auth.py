"""Account managers as flask-login users, loaded from the session by id."""

from __future__ import annotations

from dataclasses import dataclass

from flask.blueprints import BlueprintSetupState
from flask_login import UserMixin

from billing.organizations.services import SignedInUser, load_user


@dataclass(frozen=True)
class AccountManager(UserMixin):
    id: str
    email: str
    organization_id: str

    @classmethod
    def from_signed_in(cls, user: SignedInUser) -> AccountManager:
        return cls(id=user.id, email=user.email, organization_id=user.organization_id)


def load_account_manager(user_id: str) -> AccountManager | None:
    user = load_user(user_id)
    return AccountManager.from_signed_in(user) if user else None


def register_user_loader(state: BlueprintSetupState) -> None:
    # Reached through the app rather than imported from web.extensions: admin sits below web
    # in the dependency rule. flask-login's init_app leaves itself on `app.login_manager`.
    state.app.login_manager.user_loader(load_account_manager)
