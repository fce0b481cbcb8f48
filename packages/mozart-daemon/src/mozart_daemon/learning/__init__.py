"""Cross-job learning: outcomes, patterns mined from them, lessons for prompts, ETAs.

``LearningHub`` (hub.py) is the daemon's one instance; ``patterns.py`` mines and indexes,
``lessons.py`` picks and words what a sheet is told, ``persist.py`` is the SQL.
"""

from mozart_daemon.learning.hub import AttemptOutcome, LearningHub
from mozart_daemon.learning.lessons import HEADING, MAX_LESSONS
from mozart_daemon.learning.patterns import Pattern

__all__ = ["HEADING", "MAX_LESSONS", "AttemptOutcome", "LearningHub", "Pattern"]
