"""Security headers on every answer, and a cap on the size of a request body.

flask-talisman adds the headers in an `after_request` hook, which Flask runs for
the JSON error answers too (400, 404, 405, 413, 415, 503 and even 500).
The demo is served over plain HTTP on localhost, so the HTTPS parts of
Talisman's defaults are turned off below, each with its reason.
"""

from flask import Flask, request
from flask_talisman import Talisman
from werkzeug.exceptions import RequestEntityTooLarge

# The largest body the app reads, in bytes. The biggest valid `POST /hello` is
# about 2 KiB (a 100-character name and a 30-character greeting, each character
# escaped as `\uXXXX` pairs or `%XX` bytes); 16 KiB leaves room for any form
# encoding, yet a client cannot make the app buffer or parse megabytes. Werkzeug
# answers a larger Content-Length (or a chunked body that grows past it) with
# 413 Content Too Large before the view parses anything (Flask docs,
# "Configuration Handling": MAX_CONTENT_LENGTH).
MAX_CONTENT_LENGTH = 16 * 1024

# What the page may load (Content-Security-Policy, MDN): only the app's own
# files. `app/templates/index.html` has no inline <script>, <style> or style=""
# and no on*="" handlers, so nothing needs 'unsafe-inline' or a nonce; an
# injected script tag would not run.
CONTENT_SECURITY_POLICY = {
    # Fallback for every other kind: the page's fetch() calls to /status and
    # /tasks/<id> (connect-src), images, fonts: this origin only.
    "default-src": "'self'",
    "script-src": "'self'",  # app/static/page.js
    "style-src": "'self'",  # app/static/page.css
    "object-src": "'none'",  # no plugins
    "base-uri": "'none'",  # no <base> that would redirect the relative URLs
    "form-action": "'self'",  # the form posts to /hello and /hello/blocking only
    # No other site may show the page in a frame and trick clicks on its
    # buttons (clickjacking). X-Frame-Options below says the same to old browsers.
    "frame-ancestors": "'none'",
}


def secure(app: Flask) -> Talisman:
    """Cap `app`'s request bodies and make it send security headers on every answer.

    Headers sent: Content-Security-Policy (`CONTENT_SECURITY_POLICY`),
    X-Frame-Options: DENY, X-Content-Type-Options: nosniff,
    Referrer-Policy: no-referrer, and Talisman's default Permissions-Policy.

    Args:
        app: the Flask app, before its first request.

    Returns:
        The Talisman extension, configured (flask-talisman's README lists its options).
    """
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.before_request(refuse_long_streamed_bodies)
    return Talisman(
        app,
        # The demo listens on plain HTTP (gunicorn on 127.0.0.1:8000, no TLS):
        # a redirect to https:// would lead to a port that does not speak it.
        force_https=False,
        # HSTS tells a browser to use only HTTPS for this host name, every port,
        # for a year: on "localhost" it would break every other plain-HTTP
        # server a learner runs there. Browsers ignore it over HTTP anyway
        # (RFC 6797, section 8.1), but Talisman would send it whenever a proxy
        # says `X-Forwarded-Proto: https`. Turn it on behind a real TLS proxy.
        strict_transport_security=False,
        # The app sets no cookie; a Secure one would never come back over HTTP.
        session_cookie_secure=False,
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        # X-Content-Type-Options: nosniff (Talisman's default, stated here):
        # a browser must trust Content-Type, and never run a JSON answer as a script.
        x_content_type_options=True,
        # Send no Referer at all: the page links nowhere, and its URLs are
        # nobody else's business.
        referrer_policy="no-referrer",
    )


def refuse_long_streamed_bodies() -> None:
    """Answer 413 to a body sent without Content-Length (chunked) that is longer than the cap.

    Werkzeug refuses a Content-Length over MAX_CONTENT_LENGTH by itself. A
    streamed body it reads through a `LimitedStream` that stops at the cap, and
    `request.get_data()` then returns the first MAX_CONTENT_LENGTH bytes without
    a word (werkzeug.wsgi.LimitedStream.readall): the body would be cut, not
    refused, and a cut JSON body padded with spaces would even be valid. So this
    hook, run before every view, reads such a body (at most the cap, kept for the
    view) and asks for one byte more.

    Raises:
        RequestEntityTooLarge: the streamed body is longer than MAX_CONTENT_LENGTH (413).
    """
    # Without `wsgi.input_terminated` (set by gunicorn) Werkzeug reads a body
    # of unknown length as empty; with a Content-Length it has checked it already.
    limit = request.max_content_length
    if limit is None or request.content_length is not None or "wsgi.input_terminated" not in request.environ:
        return
    body = request.get_data(cache=True)  # kept for the view: parsing the form or JSON reads it from here
    if len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
