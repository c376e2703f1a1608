"""The operators' console and the HTTP API that ``printctl serve`` answers.

One FastAPI application (:func:`printctl.web.app.create_app`): JSON routes under ``/api/v1``
and server-rendered console pages, both calling the same service functions as the CLI. Every
route but the login page and ``/health`` needs a signed-in user (a session cookie with a
CSRF token, or a per-user API token), and every change checks the user's role.
"""
