from __future__ import annotations

import logging
from datetime import timedelta

import orjson
from flask import Flask, send_from_directory
from flask.json.provider import DefaultJSONProvider

from billing.settings import Settings
from jobs.bootstrap import configure_core
from jobs.dispatch import InProcessDispatcher, make_dispatcher
from web.extensions import csrf, limiter, login_manager
from web.json_limits import check_document, too_deep

# 19 digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float. Found
# by turning every digit into "0" and looking for 19 of them (a regular expression took ≈ 3 % of a
# batch's CPU).
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def _has_long_number(body: bytes) -> bool:
    return _NINETEEN_DIGITS in body.translate(_DIGITS_AS_ZEROS)


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON with orjson reading and writing it (C: a 100-event batch's parse and answer were
    ≈ 12 % of its request's CPU).

    Whatever orjson does not write itself (dates, dataclasses, decimals) goes through Flask's own
    default, so answers are the same as with the standard provider. A body orjson would read
    differently from the standard library is read by the standard library: one with 19 digits in a
    row (orjson turns integers beyond 64 bits into floats; event properties must stay as sent), or
    one orjson refuses (NaN, lone surrogates, another encoding than UTF-8, ...). Either way the
    document is then held to web.json_limits (depth, NUL characters, lone surrogates).
    """

    sort_keys = False
    _options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS

    def dumps(self, obj, **kwargs) -> str:
        if kwargs:
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=self._options).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj)

    def loads(self, s, **kwargs):
        if kwargs:
            return super().loads(s, **kwargs)
        raw = bytes(s) if isinstance(s, bytes | bytearray) else s.encode("utf-8", "surrogatepass")
        if not _has_long_number(raw):
            try:
                document = orjson.loads(s)
            except orjson.JSONDecodeError:
                pass
            else:  # orjson refuses lone surrogates: only the standard library lets them through
                check_document(document, raw, utf8=True)
                return document
        try:
            document = super().loads(s)
        except RecursionError:
            raise too_deep() from None
        check_document(document, raw, utf8=False)
        return document

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps(obj) + "\n", mimetype=self.mimetype)


def _strict_transport_security(response):
    # Only when TALLY_BASE_URL is https: browsers then refuse plain http to this host for a year.
    response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def create_app(settings: Settings | None = None, *, start_clock: bool | None = None, dispatcher=None) -> Flask:
    """Build the Tally web app; nothing is started at import time."""
    settings = settings or Settings.from_env()
    from web.faults import TallyFlask

    app = TallyFlask(__name__.split(".")[0], template_folder="../templates", static_folder="../static",
                     instance_path=str(settings.instance_path))
    served_over_https = settings.base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TALLY=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=served_over_https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=served_over_https,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json = FastJSONProvider(app)
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    dispatcher = dispatcher or make_dispatcher(settings)
    configure_core(settings, dispatcher=dispatcher)
    app.extensions["tally_dispatcher"] = dispatcher

    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from admin import admin_blueprint
    from api import api_blueprint
    from api.provider_webhooks import provider_webhooks_blueprint
    from portal import pay_blueprint, portal_blueprint, widgets_blueprint
    from web import cli, files, headers, health, jinja, throttle

    app.register_blueprint(api_blueprint, url_prefix="/api/v1")
    csrf.exempt(api_blueprint)  # the API authenticates with bearer keys, not cookies
    app.register_blueprint(provider_webhooks_blueprint)
    csrf.exempt(provider_webhooks_blueprint)  # payment providers sign their webhooks; no cookie, no form
    app.register_blueprint(portal_blueprint, url_prefix="/portal")
    csrf.exempt(portal_blueprint)  # a frameable page: its forms carry a token bound to its link (portal.link_forms)
    app.register_blueprint(widgets_blueprint, url_prefix="/embed")
    csrf.exempt(widgets_blueprint)  # framed by a host product: the top-up form carries a token bound to the embed token
    app.register_blueprint(pay_blueprint, url_prefix="/pay")  # links.pay_url and links.setup_url
    app.register_blueprint(admin_blueprint, url_prefix="/admin")
    app.register_blueprint(files.blueprint)
    app.register_blueprint(health.blueprint)
    headers.register(app)
    cli.register(app)
    jinja.register(app)
    throttle.throttle_sign_in(app, limiter)
    throttle.throttle_password_change(app, limiter)
    throttle.throttle_portal_link_requests(app, limiter)
    if served_over_https:
        app.after_request(_strict_transport_security)
    if settings.trusted_proxies:
        # Opt-in: behind N reverse proxies, the client's address (sign-in throttling) and scheme come
        # from their X-Forwarded-For/-Proto; without it, those headers are ignored (a client could forge them).
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)

    @app.get("/")
    def index():
        from flask import redirect, url_for

        return redirect(url_for("admin.home"))

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(app.static_folder, "img/favicon.svg", mimetype="image/svg+xml")

    if start_clock is None:
        start_clock = settings.embedded_clock and isinstance(dispatcher, InProcessDispatcher)
    if start_clock:
        # Started by the first request, so that CLI commands (which build the app too) never
        # run a clock; without Redis there is no `rq cron`, and this thread replaces it.
        from jobs.clock import start_clock_thread

        app.before_request(lambda: start_clock_thread() and None)
    logging.basicConfig(level=logging.INFO)
    return app
