"""Account managers as flask-login users, loaded from the session by id and session generation."""

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
    session_generation: int = 0
    role: str = "admin"
    # Signed in with a password made for them: every page but My account sends them there (admin.blueprint).
    must_change_password: bool = False

    @classmethod
    def from_signed_in(cls, user: SignedInUser) -> AccountManager:
        return cls(id=user.id, email=user.email, organization_id=user.organization_id,
                   session_generation=user.session_generation, role=user.role,
                   must_change_password=user.must_change_password)

    def get_id(self) -> str:
        # What flask-login keeps in the session: the user's generation travels with the id, so sign-out,
        # a password change or deactivation (which bump it) end the sessions issued before.
        return f"{self.id}:{self.session_generation}"


def load_account_manager(session_id: str) -> AccountManager | None:
    user_id, _, generation = session_id.rpartition(":")
    if not user_id or not generation.isdigit():
        return None  # a session from before sessions were revocable: sign in again
    user = load_user(user_id, int(generation))
    return AccountManager.from_signed_in(user) if user else None


def register_user_loader(state: BlueprintSetupState) -> None:
    # Reached through the app rather than imported from web.extensions: admin sits below web
    # in the dependency rule. flask-login's init_app leaves itself on `app.login_manager`.
    state.app.login_manager.user_loader(load_account_manager)
