"""RPC handlers: the dispatcher and one handler per schema method (``table.HANDLERS``)."""

from mozart_daemon.handlers.dispatch import Dispatcher
from mozart_daemon.handlers.table import HANDLERS, Call

__all__ = ["HANDLERS", "Call", "Dispatcher"]
