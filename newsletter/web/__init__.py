"""Web: the two loopback servers for people. `preview` shows every edition as its readers see it;
`public` answers behind [web] public_url (archive pages, one-click unsubscribe; `feedback`: one-click
"more / less like this" votes).
"""
