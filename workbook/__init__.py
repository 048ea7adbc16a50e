"""Adapters over the engine: the command line, and later the workbook builder and macros."""
