"""The console: the gateway's own web UI, served by the API app under the same auth.

``pages`` serves the page and its assets, ``login`` and ``session`` trade a token for a session
cookie with a CSRF check, ``stream`` the live views, ``geometry`` the zone and line editor's API;
``routes`` adds them all to the app.
"""
