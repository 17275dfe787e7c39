"""Select: takes the day's papers and a profile; gives the profile's ranked scores (at most top_n), then
each reader's own ranked ids (choose_for_readers).

Its categories, minus what it featured before, keyword prefilter, then LLM scores when a model is set;
per reader: embedding similarity + keywords + the profile's scores, minus what they already got.
"""

from .choose import in_categories, keyword_proxy, prefilter, prompt_fingerprint, select_papers
from .readers import choose_for_readers, default_picks

__all__ = ["choose_for_readers", "default_picks", "in_categories", "keyword_proxy", "prefilter", "prompt_fingerprint",
           "select_papers"]
