"""The feedback loop: experiments (variants), served-list logging, attribution of impressions,
clicks and sales to the list that earned them, and the /stats report."""

from recsys.feedback.experiments import DEFAULT_VARIANT, Experiment, Variant, subject_of
from recsys.feedback.serving import Feedback

__all__ = ["DEFAULT_VARIANT", "Experiment", "Feedback", "Variant", "subject_of"]
