"""Each reader's issue from one render: per-paper fragments cut once, joined per reader.

Render runs MJML and premailer ONCE per edition (and language), with every entry as a list item,
a card and a title-only "dropped" item, each wrapped in markers; `parse_parts` cuts that output
into a `Parts` (stored with the edition as JSON). Deliver assembles each reader's issue from it:
a few hundred joins, no parsing, no template, no CSS (~0.1 ms for ten papers).

Markers (written by render, read here):

    HTML  <!--nl:NONCE:NAME-->      regions: items, cards, dropped, ditems, fb, pre
          <!--nl:NONCE:NAME:I-->    entry I (the edition's I-th paper) of a region
    text  %%NL_PART NAME%%  and  %%NL_PART NAME:I%%    one line each
    both  %%NL_SLOT%%               per-reader values: RANK, NUM, COUNT, INTRO, PREHEADER,
                                    DROPPED_NOTE, FB_UP, FB_DOWN, LINKS; %%NL_L<j>%% is text link j

Untrusted text cannot forge any of them. In every format render's sanitiser breaks each `%%`
(newsletter/render/sanitize.py::neutralize). In HTML text it is escaped (no `<!--`) or cleaned by
nh3 with comments stripped; but premailer writes attribute values with a raw `<`, so an escaped
`&lt;!--nl:…` in an href comes out as `<!--nl:…`: hence the NONCE, random per render, which no
paper can know. Entries are numbered by position, never named by a paper id, and `parse_parts`
checks every region holds exactly the entries it should.
The per-recipient placeholders (%%NL_NAME%% …, newsletter/placeholders.py) pass through untouched
for `personalize`.

Modules: `parts.py` (the markers, `Parts`, `parse_parts`), `reader.py` (`assemble`: one reader's str
HTML and text), `wire.py` (`compile_parts` once per edition, with a bound of any recipient's longest
line; `assemble_wire` per recipient: the canonical bytes deliver sends, personalised, by the same walk).
"""

from .parts import (
    CARDS,
    COUNT,
    DITEMS,
    DROPPED,
    DROPPED_NOTE,
    FB_DOWN,
    FB_UP,
    FEEDBACK,
    FORMAT_VERSION,
    INTRO,
    ITEMS,
    LINKS,
    NUM,
    PREHEADER,
    RANK,
    SLOT_RE,
    SLOTS,
    Feedback,
    Parts,
    PartsError,
    Piece,
    html_mark,
    link_slot,
    parse_parts,
    slot,
    text_mark,
)
from .reader import Assembled, assemble, worst_feedback
from .wire import EMAIL, NAME, UNSUBSCRIBE_URL, Wire, WireParts, assemble_wire, compile_parts

__all__ = ["CARDS", "COUNT", "DITEMS", "DROPPED", "DROPPED_NOTE", "EMAIL", "FB_DOWN", "FB_UP", "FEEDBACK",
           "FORMAT_VERSION", "NAME", "UNSUBSCRIBE_URL",
           "INTRO", "ITEMS", "LINKS", "NUM", "PREHEADER", "RANK", "SLOTS", "SLOT_RE", "Assembled", "Feedback", "Parts",
           "PartsError", "Piece", "Wire", "WireParts", "assemble", "assemble_wire", "compile_parts", "html_mark",
           "link_slot", "parse_parts", "slot", "text_mark", "worst_feedback"]
