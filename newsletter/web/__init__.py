"""Web: the two servers for people. `preview` shows every edition as its readers see it (127.0.0.1,
the simple stdlib server of `server.py`); `public` answers behind [web] public_url (archive pages,
one-click unsubscribe; `feedback`: one-click "more / less like this" votes) on the production server
of `serving.py` (waitress), behind `guard.py`, with `access.py`'s log and `cache.py`'s pages.
"""
