"""Detect and catalogue discrete Martian auroras in EMM/EMUS Level 2B scans."""

__version__ = "0.1.0"
