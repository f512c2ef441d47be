"""perfml: sales-team performance intelligence.

Transfer anomalies, decline warnings, high-performer profiles and KPI/bonus rules.
"""

from perfml.dataset import Dataset
from perfml.errors import DataValidationError, PerfmlError, Problem

__all__ = ["Dataset", "DataValidationError", "PerfmlError", "Problem"]
__version__ = "0.1.0"
