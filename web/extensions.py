"""Extensions, created unbound and bound to the app in create_app."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message_category = "warning"  # "Please log in…" is a warning, not a success (_macros.flashed)
login_manager.session_protection = "strong"
# Throttles admin sign-in only (web.throttle); its storage (Redis or memory) is set by create_app.
limiter = Limiter(key_func=get_remote_address, key_prefix="tally-throttle", strategy="moving-window",
                  in_memory_fallback_enabled=True)
