"""When to grow: triggers that fire at the end of an epoch."""
from .convergent import Convergent
from .deadline import Deadline
from .fragrow import FRAGrow
from .lipgrow import LipGrow
from .pacing import AtEpochs, AtLatest
from .periodic import Periodic

__all__ = ["AtEpochs", "AtLatest", "Convergent", "Deadline", "FRAGrow", "LipGrow", "Periodic"]
