"""The console: the gateway's own web UI, served by the API app under the same auth.

``pages`` serves the page and its assets (its own and those shared with the audit service's fleet
page, ``gateway.web``), ``login`` trades a token for a session cookie with a CSRF check
(``gateway.web.login`` and ``gateway.web.session``), ``stream`` the live views, ``geometry`` the
zone and line editor's API; ``routes`` adds them all to the app.
"""
