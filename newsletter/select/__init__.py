"""Select: takes the day's papers and a profile; gives the profile's ranked scores (at most top_n).

Its categories, minus what it featured before, keyword prefilter, then LLM scores when a model is set.
"""

from .choose import in_categories, keyword_proxy, prefilter, prompt_fingerprint, select_papers

__all__ = ["in_categories", "keyword_proxy", "prefilter", "prompt_fingerprint", "select_papers"]
