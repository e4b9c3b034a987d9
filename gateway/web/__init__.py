"""What the gateway's console and the audit service's fleet page share: browser sessions with their
CSRF check (``session``), the login routes (``login``), per-client rate limits (``rate_limit``), the
page assets and their security headers (``assets``), the query parameters a listing does not take
(``query``), and the common CSS and JavaScript (``static/``).
"""
