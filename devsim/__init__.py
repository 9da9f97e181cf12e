"""devsim: a runnable workbook for DevOps and site-reliability engineering."""

__version__ = "0.1.0"
